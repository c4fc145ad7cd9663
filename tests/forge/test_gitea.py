"""The Gitea adapter against the bench's real Gitea: a pushed bot branch becomes one pull
request, found again (not opened twice) after a crash, whose merge or close a poll reports;
Gitea's own webhook deliveries carry the signature the verifier accepts, and a forged one is
refused."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chatbot.errors import PermanentError
from chatbot.forge.gitea import GiteaForge, pull_request_from_gitea
from chatbot.forge.http import RequestRejected
from chatbot.forge.pull_request import PullRequestState
from chatbot.forge.repo import WorkingCopy
from chatbot.forge.webhook import GITEA_SIGNATURE_HEADER, verify_gitea_signature
from testbench.gitea import GiteaRepo, GiteaServer
from testbench.process import free_port
from tests.forge.conftest import push_file, working_copy

BRANCH = "flow-bot/batch-1"


def repo_api(gitea_repo: GiteaRepo) -> str:
    return f"/repos/{gitea_repo.owner}/{gitea_repo.name}"


def merge_as_a_person(gitea_server: GiteaServer, gitea_repo: GiteaRepo, number: int) -> None:
    path = f"{repo_api(gitea_repo)}/pulls/{number}"
    deadline = time.monotonic() + 30
    # Gitea checks mergeability in a background queue after the pull request opens.
    while not gitea_server.api("GET", path)["mergeable"] and time.monotonic() < deadline:
        time.sleep(0.2)
    gitea_server.api("POST", f"{path}/merge", {"Do": "merge"})


async def test_a_pushed_bot_branch_becomes_one_pull_request(
    gitea_forge: GiteaForge, bot_copy: WorkingCopy, gitea_repo: GiteaRepo
) -> None:
    head = await push_file(bot_copy, BRANCH, "intents/checkout.shop.yaml", "kind: x\n")
    assert await gitea_forge.find_pull_request(head_branch=BRANCH, base_branch="main") is None

    opened = await gitea_forge.create_pull_request(
        head_branch=BRANCH, base_branch="main", title="Allow checkout → payments",
        body="Approved by alice")
    assert opened.state is PullRequestState.OPEN
    assert (opened.head_branch, opened.base_branch, opened.head_sha) == (BRANCH, "main", head)
    assert opened.url == f"{gitea_repo.html_url}/pulls/{opened.number}"

    found = await gitea_forge.find_pull_request(head_branch=BRANCH, base_branch="main")
    assert found is not None and found.number == opened.number
    # The create reached Gitea before a crash: the retry adopts the open one (Gitea's 409).
    again = await gitea_forge.create_pull_request(
        head_branch=BRANCH, base_branch="main", title="again", body="again")
    assert again.number == opened.number


async def test_polls_report_the_merge(
    gitea_forge: GiteaForge, bot_copy: WorkingCopy, gitea_server: GiteaServer,
    gitea_repo: GiteaRepo,
) -> None:
    await push_file(bot_copy, BRANCH, "intents/checkout.shop.yaml", "kind: x\n")
    opened = await gitea_forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                                   title="t", body="b")
    first = await gitea_forge.poll_pull_request(number=opened.number)
    assert first.changed and first.pull_request.state is PullRequestState.OPEN
    # Gitea sends no ETag on pull requests, so an unchanged poll is a full answer that
    # compares equal.
    again = await gitea_forge.poll_pull_request(number=opened.number,
                                                previous=first.pull_request)
    assert not again.changed

    merge_as_a_person(gitea_server, gitea_repo, opened.number)
    merged = await gitea_forge.poll_pull_request(number=opened.number,
                                                 previous=first.pull_request)
    assert merged.changed and merged.pull_request.state is PullRequestState.MERGED
    assert merged.pull_request.merge_commit_sha


async def test_a_pull_request_closed_without_merge_is_reported_and_still_found(
    gitea_forge: GiteaForge, bot_copy: WorkingCopy, gitea_server: GiteaServer,
    gitea_repo: GiteaRepo,
) -> None:
    await push_file(bot_copy, BRANCH, "intents/checkout.shop.yaml", "kind: x\n")
    opened = await gitea_forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                                   title="t", body="b")
    gitea_server.api("PATCH", f"{repo_api(gitea_repo)}/pulls/{opened.number}",
                     {"state": "closed"})
    polled = await gitea_forge.poll_pull_request(number=opened.number)
    assert polled.pull_request.state is PullRequestState.CLOSED
    found = await gitea_forge.find_pull_request(head_branch=BRANCH, base_branch="main")
    assert found is not None and found.number == opened.number
    assert found.state is PullRequestState.CLOSED

    # Reopened work on the same branch: the open pull request wins over the closed one.
    reopened = await gitea_forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                                     title="t2", body="b2")
    assert reopened.number != opened.number
    found = await gitea_forge.find_pull_request(head_branch=BRANCH, base_branch="main")
    assert found is not None and found.number == reopened.number


async def test_a_growing_batch_rewrites_the_description(
    gitea_forge: GiteaForge, bot_copy: WorkingCopy, gitea_server: GiteaServer,
    gitea_repo: GiteaRepo,
) -> None:
    await push_file(bot_copy, BRANCH, "intents/a.yaml", "a\n")
    opened = await gitea_forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                                   title="1 flow", body="one")
    updated = await gitea_forge.update_pull_request(number=opened.number, title="2 flows",
                                                    body="one\ntwo")
    assert updated.title == "2 flows"
    stored = gitea_server.api("GET", f"{repo_api(gitea_repo)}/pulls/{opened.number}")
    assert stored["body"] == "one\ntwo"


async def test_a_wrong_token_stops_and_does_not_show_itself(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo, session: aiohttp.ClientSession
) -> None:
    wrong = "0123456789abcdef0123456789abcdef01234567"
    forge = GiteaForge(session=session, api_url=gitea_server.api_url, owner=gitea_repo.owner,
                       repository=gitea_repo.name, token=wrong)
    with pytest.raises(RequestRejected) as refused:
        await forge.create_pull_request(head_branch=BRANCH, base_branch="main", title="t",
                                        body="b")
    assert refused.value.status == 401
    assert wrong not in str(refused.value) and wrong not in repr(forge)


async def test_an_unknown_repository_is_permanent(
    gitea_server: GiteaServer, session: aiohttp.ClientSession
) -> None:
    forge = GiteaForge(session=session, api_url=gitea_server.api_url, owner="nobody",
                       repository="nothing", token=gitea_server.token)
    with pytest.raises(PermanentError, match="404"):
        await forge.poll_pull_request(number=1)


async def test_gitea_webhooks_carry_a_signature_the_verifier_accepts(
    gitea_forge: GiteaForge, bot_copy: WorkingCopy, gitea_server: GiteaServer,
    gitea_repo: GiteaRepo,
) -> None:
    received: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await received.put((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/forge/webhook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        gitea_server.api("POST", f"{repo_api(gitea_repo)}/hooks", {
            "type": "gitea", "active": True, "events": ["pull_request"],
            "config": {"url": f"http://127.0.0.1:{port}/forge/webhook",
                       "content_type": "json", "secret": "hook-secret"},
        })
        await push_file(bot_copy, BRANCH, "intents/a.yaml", "a\n")
        opened = await gitea_forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                                       title="t", body="b")
        body, headers = await asyncio.wait_for(received.get(), timeout=30)
    finally:
        await runner.cleanup()

    header = headers.get(GITEA_SIGNATURE_HEADER)
    assert verify_gitea_signature(secret="hook-secret", body=body, header=header)
    assert not verify_gitea_signature(secret="guessed", body=body, header=header)
    forged = body.replace(b'"opened"', b'"closed"')
    assert forged != body
    assert not verify_gitea_signature(secret="hook-secret", body=forged, header=header)
    payload: dict[str, Any] = json.loads(body)
    assert payload["action"] == "opened"
    event = pull_request_from_gitea(payload["pull_request"])
    assert (event.number, event.state, event.head_branch) == (
        opened.number, PullRequestState.OPEN, BRANCH)


async def test_a_token_with_only_write_repository_does_the_bots_whole_job(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo, session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    token = gitea_server.new_token(name=f"bot-{gitea_repo.name}", scopes="write:repository")
    forge = GiteaForge(session=session, api_url=gitea_server.api_url, owner=gitea_repo.owner,
                       repository=gitea_repo.name, token=token)
    copy = working_copy(gitea_server, gitea_repo, tmp_path / "scoped", token=token)
    await push_file(copy, BRANCH, "intents/a.yaml", "a\n")
    opened = await forge.create_pull_request(head_branch=BRANCH, base_branch="main",
                                             title="t", body="b")
    assert (await forge.find_pull_request(head_branch=BRANCH, base_branch="main")) == opened
    await forge.update_pull_request(number=opened.number, title="t2", body="b2")
    assert (await forge.poll_pull_request(number=opened.number)).pull_request.title == "t2"

    reader = gitea_server.new_token(name=f"reader-{gitea_repo.name}", scopes="read:repository")
    refused = GiteaForge(session=session, api_url=gitea_server.api_url, owner=gitea_repo.owner,
                         repository=gitea_repo.name, token=reader)
    with pytest.raises(RequestRejected) as lacking:
        await refused.update_pull_request(number=opened.number, title="x", body="x")
    assert lacking.value.status == 403 and "lacks a permission" in str(lacking.value)
