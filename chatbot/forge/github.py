"""The GitHub forge adapter: pull requests of one repository through GitHub's REST API
(api.github.com or a GitHub Enterprise ``/api/v3`` URL), authenticated with a fine-grained
token (Contents and Pull requests: read and write) or a GitHub App installation token.

Polls are conditional (``If-None-Match``): GitHub does not count a 304 answer against the
rate limit, so polling open pull requests costs next to nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from chatbot.errors import PermanentError
from chatbot.forge.http import ForgeHttp, RequestRejected
from chatbot.forge.pull_request import Poll, PullRequest, PullRequestState

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
USER_AGENT = "flow-approval-chatbot"


class GitHubForge:
    """Pull requests of ``owner/repository`` on GitHub."""

    kind = "github"

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        owner: str,
        repository: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 30.0,
    ) -> None:
        self._owner = owner
        self._repository = repository
        self._http = ForgeHttp(
            session=session,
            base_url=api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            },
            forge=self.kind,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"GitHubForge({self._owner}/{self._repository} via {self._http!r})"

    @property
    def _repo_path(self) -> str:
        return f"/repos/{quote(self._owner, safe='')}/{quote(self._repository, safe='')}"

    async def find_pull_request(
        self, *, head_branch: str, base_branch: str
    ) -> PullRequest | None:
        for state in ("open", "all"):
            answer = await self._http.call(
                "GET", f"{self._repo_path}/pulls",
                query={"head": f"{self._owner}:{head_branch}", "base": base_branch,
                       "state": state, "sort": "created", "direction": "desc",
                       "per_page": "10"},
            )
            items = answer.body if isinstance(answer.body, list) else []
            if items:
                return max((pull_request_from_github(item) for item in items),
                           key=lambda pr: pr.number)
        return None

    async def create_pull_request(
        self, *, head_branch: str, base_branch: str, title: str, body: str
    ) -> PullRequest:
        try:
            answer = await self._http.call(
                "POST", f"{self._repo_path}/pulls",
                body={"title": title, "head": head_branch, "base": base_branch, "body": body,
                      "maintainer_can_modify": False},
                expect=(201,),
            )
        except RequestRejected as exc:
            # 422 "A pull request already exists for owner:branch": adopt it.
            if exc.status != 422 or "already exists" not in str(exc):
                raise
            existing = await self.find_pull_request(head_branch=head_branch,
                                                    base_branch=base_branch)
            if existing is None or existing.state is not PullRequestState.OPEN:
                raise
            return existing
        return pull_request_from_github(answer.body, etag=answer.etag)

    async def update_pull_request(self, *, number: int, title: str, body: str) -> PullRequest:
        answer = await self._http.call(
            "PATCH", f"{self._repo_path}/pulls/{number}", body={"title": title, "body": body},
        )
        return pull_request_from_github(answer.body, etag=answer.etag)

    async def poll_pull_request(
        self, *, number: int, previous: PullRequest | None = None
    ) -> Poll:
        answer = await self._http.call(
            "GET", f"{self._repo_path}/pulls/{number}",
            etag=previous.etag if previous is not None else None,
        )
        if answer.status == 304 and previous is not None:
            return Poll(pull_request=previous, changed=False)
        current = pull_request_from_github(answer.body, etag=answer.etag)
        return Poll(pull_request=current, changed=current != previous)


def pull_request_from_github(item: Any, *, etag: str | None = None) -> PullRequest:
    """A GitHub pull request (full or list item, REST or webhook payload) as tracked."""
    try:
        # List items carry no `merged` flag; `merged_at` is set on both shapes.
        merged = bool(item.get("merged")) or item.get("merged_at") is not None
        state = (PullRequestState.MERGED if merged else
                 PullRequestState.OPEN if item["state"] == "open" else PullRequestState.CLOSED)
        return PullRequest(
            number=int(item["number"]),
            url=str(item["html_url"]),
            state=state,
            head_branch=str(item["head"]["ref"]),
            base_branch=str(item["base"]["ref"]),
            head_sha=str(item["head"]["sha"]),
            title=str(item.get("title", "")),
            merge_commit_sha=item.get("merge_commit_sha") if merged else None,
            etag=etag,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentError(f"github: a pull request object without {exc}") from exc
