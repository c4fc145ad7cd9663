"""The Gitea (and Forgejo) forge adapter: pull requests of one repository through Gitea's REST
API (``/api/v1``), authenticated with an access token that has ``write:repository``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from chatbot.errors import PermanentError
from chatbot.forge.http import ForgeHttp, RequestRejected
from chatbot.forge.pull_request import Poll, PullRequest, PullRequestState

# Gitea caps list pages at [api] MAX_RESPONSE_ITEMS, 50 by default.
_PAGE = 50
_MAX_PAGES = 20


class GiteaForge:
    """Pull requests of ``owner/repository`` on the Gitea at ``api_url`` (…/api/v1)."""

    kind = "gitea"

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        api_url: str,
        owner: str,
        repository: str,
        token: str,
        timeout: float = 30.0,
    ) -> None:
        self._owner = owner
        self._repository = repository
        self._http = ForgeHttp(
            session=session,
            base_url=api_url,
            headers={"Authorization": f"token {token}", "Accept": "application/json"},
            forge=self.kind,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"GiteaForge({self._owner}/{self._repository} via {self._http!r})"

    @property
    def _repo_path(self) -> str:
        return f"/repos/{quote(self._owner, safe='')}/{quote(self._repository, safe='')}"

    async def find_pull_request(
        self, *, head_branch: str, base_branch: str
    ) -> PullRequest | None:
        # The base/head lookup is one cheap request, but it returns any one pull request of
        # the pair; only when that one is closed can another, open one exist.
        if "/" not in base_branch:
            answer = await self._http.call(
                "GET",
                f"{self._repo_path}/pulls/{quote(base_branch, safe='')}/"
                f"{quote(head_branch, safe='/')}",
                expect=(200, 404),
            )
            if answer.status == 404:
                return None
            found = self._pull_request(answer.body, etag=None)
            if found.state is PullRequestState.OPEN:
                return found
        candidates = await self._list(head_branch=head_branch, base_branch=base_branch)
        if not candidates:
            return None
        open_ones = [pr for pr in candidates if pr.state is PullRequestState.OPEN]
        return max(open_ones or candidates, key=lambda pr: pr.number)

    async def create_pull_request(
        self, *, head_branch: str, base_branch: str, title: str, body: str
    ) -> PullRequest:
        try:
            answer = await self._http.call(
                "POST",
                f"{self._repo_path}/pulls",
                body={"head": head_branch, "base": base_branch, "title": title, "body": body},
                expect=(201,),
            )
        except RequestRejected as exc:
            # 409: an open pull request already exists for this head and base.
            if exc.status != 409:
                raise
            existing = await self.find_pull_request(head_branch=head_branch,
                                                    base_branch=base_branch)
            if existing is None or existing.state is not PullRequestState.OPEN:
                raise
            return existing
        return self._pull_request(answer.body, etag=answer.etag)

    async def update_pull_request(self, *, number: int, title: str, body: str) -> PullRequest:
        # Gitea answers an edit with 201 Created (its swagger says so too).
        answer = await self._http.call(
            "PATCH", f"{self._repo_path}/pulls/{number}",
            body={"title": title, "body": body}, expect=(200, 201),
        )
        return self._pull_request(answer.body, etag=answer.etag)

    async def poll_pull_request(
        self, *, number: int, previous: PullRequest | None = None
    ) -> Poll:
        answer = await self._http.call(
            "GET", f"{self._repo_path}/pulls/{number}",
            etag=previous.etag if previous is not None else None,
        )
        if answer.status == 304 and previous is not None:
            return Poll(pull_request=previous, changed=False)
        current = self._pull_request(answer.body, etag=answer.etag)
        return Poll(pull_request=current, changed=current != previous)

    async def _list(self, *, head_branch: str, base_branch: str) -> list[PullRequest]:
        found: list[PullRequest] = []
        for page in range(1, _MAX_PAGES + 1):
            answer = await self._http.call(
                "GET", f"{self._repo_path}/pulls",
                query={"state": "all", "base_branch": base_branch, "sort": "recentupdate",
                       "limit": str(_PAGE), "page": str(page)},
            )
            items = answer.body if isinstance(answer.body, list) else []
            for item in items:
                if self._is_from_branch(item, head_branch):
                    found.append(self._pull_request(item, etag=None))
            if len(items) < _PAGE:
                break
        return found

    def _is_from_branch(self, item: Mapping[str, Any], head_branch: str) -> bool:
        head = item.get("head") or {}
        repo = head.get("repo") or {}
        # Same-repository branches only: a fork's branch of the same name is not the bot's.
        same_repo = str(repo.get("full_name", "")).lower() == (
            f"{self._owner}/{self._repository}".lower())
        return bool(head.get("ref") == head_branch and same_repo)

    def _pull_request(self, item: Any, *, etag: str | None) -> PullRequest:
        return pull_request_from_gitea(item, etag=etag)


def pull_request_from_gitea(item: Any, *, etag: str | None = None) -> PullRequest:
    """A Gitea pull request object (REST answer or webhook payload) as the sink tracks it."""
    try:
        merged = bool(item.get("merged"))
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
            merge_commit_sha=(item.get("merge_commit_sha") or None) if merged else None,
            etag=etag,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentError(f"gitea: a pull request object without {exc}") from exc
