"""The GitHub adapter against a stand-in that checks every request it sends, and every answer
it reads, against GitHub's published REST description (the fixture fails the test on any
mismatch): it opens one pull request per bot branch, finds it again after a crash, polls it
with conditional requests, and turns GitHub's refusals into retry-or-stop errors."""

from __future__ import annotations

import aiohttp
import pytest

from chatbot.errors import PermanentError, TemporaryError
from chatbot.forge.github import API_VERSION, GitHubForge
from chatbot.forge.http import RequestRejected
from chatbot.forge.pull_request import PullRequestState
from testbench.github_standin import Canned, GitHubStandin

TOKEN = "github_pat_11AAAAAAA0bench0token0for0tests0only"
BRANCH = "flow-bot/checkout-payments"


@pytest.fixture
def forge(github_standin: GitHubStandin, session: aiohttp.ClientSession) -> GitHubForge:
    return GitHubForge(session=session, owner=github_standin.owner,
                       repository=github_standin.name, token=TOKEN,
                       api_url=github_standin.api_url)


async def as_a_person(session: aiohttp.ClientSession, standin: GitHubStandin, method: str,
                      path: str, body: object) -> None:
    # Someone acting on GitHub; the stand-in checks these requests against the description too.
    url = f"{standin.api_url}/repos/{standin.owner}/{standin.name}{path}"
    async with session.request(method, url, json=body) as response:
        assert response.status == 200, await response.text()


async def test_opening_a_pull_request_sends_what_github_describes(
    forge: GitHubForge, github_standin: GitHubStandin
) -> None:
    head = github_standin.push_branch(BRANCH)
    opened = await forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                             title="Allow checkout → payments",
                                             body="Approved by <@U0OWNER>")
    assert opened.state is PullRequestState.OPEN
    assert (opened.head_branch, opened.base_branch, opened.head_sha) == (BRANCH, "main", head)
    assert opened.url == f"https://github.com/octo-org/gitops/pull/{opened.number}"
    sent = github_standin.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["X-GitHub-Api-Version"] == API_VERSION
    assert sent.headers["Accept"] == "application/vnd.github+json"
    assert sent.body["title"] == "Allow checkout → payments"


async def test_after_a_crash_the_branchs_pull_request_is_found_not_opened_twice(
    forge: GitHubForge, github_standin: GitHubStandin
) -> None:
    github_standin.push_branch(BRANCH)
    assert await forge.find_pull_request(head_branch=BRANCH, base_branch="main") is None
    first = await forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                            title="t", body="b")
    found = await forge.find_pull_request(head_branch=BRANCH, base_branch="main")
    assert found is not None and found.number == first.number
    # A create that did reach GitHub before the crash: GitHub refuses the second with 422,
    # the adapter adopts the open one.
    again = await forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                            title="t", body="b")
    assert again.number == first.number
    assert [r.method for r in github_standin.requests].count("POST") == 2
    assert await forge.find_pull_request(head_branch="flow-bot/other", base_branch="main") is None


async def test_a_closed_pull_request_is_still_found_for_its_branch(
    forge: GitHubForge, github_standin: GitHubStandin, session: aiohttp.ClientSession
) -> None:
    github_standin.push_branch(BRANCH)
    opened = await forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                             title="t", body="b")
    await as_a_person(session, github_standin, "PATCH", f"/pulls/{opened.number}",
                      {"state": "closed"})
    found = await forge.find_pull_request(head_branch=BRANCH, base_branch="main")
    assert found is not None and found.number == opened.number
    assert found.state is PullRequestState.CLOSED


async def test_polling_is_conditional_and_sees_the_merge(
    forge: GitHubForge, github_standin: GitHubStandin, session: aiohttp.ClientSession
) -> None:
    github_standin.push_branch(BRANCH)
    opened = await forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                             title="t", body="b")
    first = await forge.poll_pull_request(number=opened.number)
    assert first.changed and first.pull_request.etag

    unchanged = await forge.poll_pull_request(number=opened.number,
                                              previous=first.pull_request)
    assert not unchanged.changed and unchanged.pull_request is first.pull_request
    assert github_standin.requests[-1].headers["If-None-Match"] == first.pull_request.etag

    await as_a_person(session, github_standin, "PUT", f"/pulls/{opened.number}/merge",
                      {"merge_method": "merge"})
    merged = await forge.poll_pull_request(number=opened.number, previous=first.pull_request)
    assert merged.changed and merged.pull_request.state is PullRequestState.MERGED
    assert merged.pull_request.merge_commit_sha


async def test_a_growing_batch_rewrites_the_description(
    forge: GitHubForge, github_standin: GitHubStandin
) -> None:
    github_standin.push_branch(BRANCH)
    opened = await forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                             title="1 flow", body="one")
    updated = await forge.update_pull_request(number=opened.number, title="2 flows",
                                              body="one\ntwo")
    assert updated.title == "2 flows" and updated.number == opened.number
    assert github_standin.requests[-1].body == {"title": "2 flows", "body": "one\ntwo"}


async def test_githubs_refusals_become_retry_or_stop(
    forge: GitHubForge, github_standin: GitHubStandin
) -> None:
    github_standin.fail_next(Canned(503, {"message": "Service unavailable"},
                                    {"Retry-After": "42"}))
    with pytest.raises(TemporaryError) as unavailable:
        await forge.poll_pull_request(number=1)
    assert unavailable.value.delay == 42

    # The primary rate limit is documented in prose, not per operation: not checked.
    github_standin.fail_next(Canned(
        403, {"message": "API rate limit exceeded"}, described=False,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9999999999"}))
    with pytest.raises(TemporaryError) as limited:
        await forge.poll_pull_request(number=1)
    assert limited.value.delay == 900  # capped, however far away the reset is

    github_standin.fail_next(Canned(401, {"message": "Bad credentials"}, described=False))
    with pytest.raises(RequestRejected) as refused:
        await forge.poll_pull_request(number=1)
    assert refused.value.status == 401 and "token" in str(refused.value)
    assert TOKEN not in str(refused.value)

    with pytest.raises(PermanentError, match="404"):
        await forge.poll_pull_request(number=404)


async def test_the_standin_catches_a_request_github_would_not_accept(
    github_standin: GitHubStandin, session: aiohttp.ClientSession
) -> None:
    url = f"{github_standin.api_url}/repos/octo-org/gitops/pulls"
    async with session.post(url, json={"title": "t", "head": BRANCH}) as response:
        assert response.status == 400
    assert github_standin.mismatches == [
        "POST /repos/{owner}/{repo}/pulls (pulls/create): body does not fit the description: "
        "at /: 'base' is a required property"]
    github_standin.mismatches.clear()  # seen; the fixture would fail the test otherwise
