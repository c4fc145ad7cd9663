"""A small local stand-in for GitHub's pull-request REST API, in-process on loopback, whose
every request and every answer is checked against GitHub's published description
(testbench/github_openapi.py). The real GitHub cannot be reached here; this proves that what
the GitHub adapter sends, and the shapes it reads, are the ones GitHub describes.

Answers start from the description's own examples with the state patched in, so their shape
is GitHub's, not ours. A mismatch on either side is recorded in ``mismatches`` (the fixture
fails the test on any) and answered 400, so the adapter notices too.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from testbench.github_openapi import DescriptionMismatch, GitHubDescription, Operation
from testbench.process import free_port

_DOCS = "https://docs.github.com/rest"
Handler = Callable[[web.Request, Operation, Any], Awaitable["Canned"]]
_OPERATION = web.RequestKey("operation", Operation)
_BODY = web.RequestKey("body", object)


@dataclass
class Canned:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    described: bool = True
    """False for injected faults GitHub documents in prose only (rate limits)."""


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class _Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    head_sha: str
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    updated_at: str = ""


class GitHubStandin:
    """Pull requests of one repository, ``owner/name``, served at ``api_url``."""

    def __init__(self, *, description: GitHubDescription, owner: str, name: str) -> None:
        self.description = description
        self.owner = owner
        self.name = name
        self.mismatches: list[str] = []
        self.requests: list[Recorded] = []
        self.branches: dict[str, str] = {"main": _sha("main")}
        self._pulls: dict[int, _Pull] = {}
        self._numbers = itertools.count(1)
        self._faults: list[Canned] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._checked])
        base = "/repos/{owner}/{repo}/pulls"
        app.router.add_get(base, self._route(self._list))
        app.router.add_post(base, self._route(self._create))
        app.router.add_get(base + "/{number}", self._route(self._get))
        app.router.add_patch(base + "/{number}", self._route(self._update))
        app.router.add_put(base + "/{number}/merge", self._route(self._merge))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def push_branch(self, branch: str) -> str:
        """Make ``branch`` exist (as if the bot had pushed it); returns its head commit."""
        self.branches[branch] = _sha(f"{branch}-{len(self.requests)}")
        return self.branches[branch]

    def fail_next(self, canned: Canned) -> None:
        """Answer the next request with ``canned`` instead (still checking the request)."""
        self._faults.append(canned)

    @web.middleware
    async def _checked(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._mismatch(f"{request.method} {request.path_qs}: body is not JSON")
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        try:
            operation = self.description.check_request(request.method, request.path_qs, body)
        except DescriptionMismatch as exc:
            return self._mismatch(str(exc))
        request[_OPERATION], request[_BODY] = operation, body
        return await handler(request)

    def _route(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def respond(request: web.Request) -> web.Response:
            operation = request[_OPERATION]
            canned = self._faults.pop(0) if self._faults else (
                await handler(request, operation, request[_BODY]))
            if canned.described:
                try:
                    self.description.check_response(operation, canned.status, canned.body)
                except DescriptionMismatch as exc:
                    return self._mismatch(f"stand-in answer: {exc}")
            if canned.body is None:
                return web.Response(status=canned.status, headers=canned.headers)
            return web.json_response(canned.body, status=canned.status, headers=canned.headers)

        return respond

    def _mismatch(self, message: str) -> web.Response:
        self.mismatches.append(message)
        return web.json_response({"message": message, "documentation_url": _DOCS}, status=400)

    async def _list(self, request: web.Request, _: Operation, __: Any) -> Canned:
        state = request.query.get("state", "open")
        head, base = request.query.get("head"), request.query.get("base")
        found = [
            self._render(pull, simple=True) for pull in sorted(self._pulls.values(),
                                                               key=lambda p: -p.number)
            if (state == "all" or pull.state == state)
            and (head is None or head == f"{self.owner}:{pull.head}")
            and (base is None or base == pull.base)
        ]
        return Canned(200, found[: int(request.query.get("per_page", "30"))])

    async def _create(self, _: web.Request, __: Operation, body: Any) -> Canned:
        head, base = body["head"], body["base"]
        if head not in self.branches or base not in self.branches:
            return _invalid("PullRequest", "head" if head not in self.branches else "base",
                            "invalid")
        if any(p.head == head and p.base == base and p.state == "open"
               for p in self._pulls.values()):
            return _invalid("PullRequest", None, "custom",
                            f"A pull request already exists for {self.owner}:{head}.")
        pull = _Pull(number=next(self._numbers), title=body.get("title", ""),
                     body=body.get("body", ""), head=head, base=base,
                     head_sha=self.branches[head], updated_at=_now())
        self._pulls[pull.number] = pull
        return Canned(201, self._render(pull))

    async def _get(self, request: web.Request, _: Operation, __: Any) -> Canned:
        pull = self._pulls.get(int(request.match_info["number"]))
        if pull is None:
            return Canned(404, {"message": "Not Found", "documentation_url": _DOCS})
        rendered = self._render(pull)
        digest = hashlib.sha256(json.dumps(rendered, sort_keys=True).encode()).hexdigest()
        etag = f'W/"{digest}"'
        if request.headers.get("If-None-Match") == etag:
            return Canned(304, None, {"ETag": etag})
        return Canned(200, rendered, {"ETag": etag})

    async def _update(self, request: web.Request, _: Operation, body: Any) -> Canned:
        pull = self._pulls[int(request.match_info["number"])]
        pull.title = body.get("title", pull.title)
        pull.body = body.get("body", pull.body)
        if body.get("state") in ("open", "closed") and not pull.merged:
            pull.state = body["state"]
        pull.updated_at = _now()
        return Canned(200, self._render(pull))

    async def _merge(self, request: web.Request, _: Operation, __: Any) -> Canned:
        pull = self._pulls.get(int(request.match_info["number"]))
        if pull is None:
            return Canned(404, {"message": "Not Found", "documentation_url": _DOCS})
        if pull.state != "open":
            return Canned(405, {"message": "Pull Request is not mergeable",
                                "documentation_url": _DOCS})
        pull.state, pull.merged = "closed", True
        pull.merge_commit_sha = _sha(f"merge-{pull.number}")
        pull.updated_at = _now()
        return Canned(200, {"sha": pull.merge_commit_sha, "merged": True,
                            "message": "Pull Request successfully merged"})

    def _render(self, pull: _Pull, *, simple: bool = False) -> Any:
        example = self.description.example("pull-request-simple-items")[0] if simple else (
            self.description.example("pull-request"))
        site = f"https://github.com/{self.owner}/{self.name}"
        api = f"{self.api_url}/repos/{self.owner}/{self.name}"
        closed = pull.state == "closed"
        example.update({
            "number": pull.number, "title": pull.title, "body": pull.body,
            "state": pull.state, "html_url": f"{site}/pull/{pull.number}",
            "url": f"{api}/pulls/{pull.number}", "updated_at": pull.updated_at,
            "closed_at": pull.updated_at if closed else None,
            "merged_at": pull.updated_at if pull.merged else None,
            "merge_commit_sha": pull.merge_commit_sha,
            # The description's example lists a team without its required `type`: GitHub's
            # examples lag its schemas, and the schema is what clients are written against.
            "requested_teams": [], "requested_reviewers": [],
        })
        if not simple:
            example.update({"merged": pull.merged, "mergeable": None if closed else True,
                            "merged_by": example["user"] if pull.merged else None})
        example["head"].update({"ref": pull.head, "sha": pull.head_sha,
                                "label": f"{self.owner}:{pull.head}"})
        example["base"].update({"ref": pull.base, "sha": self.branches.get(pull.base, ""),
                                "label": f"{self.owner}:{pull.base}"})
        return example


def _invalid(resource: str, field_name: str | None, code: str, message: str = "") -> Canned:
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field_name is not None:
        error["field"] = field_name
    if message:
        error["message"] = message
    return Canned(422, {"message": "Validation Failed", "errors": [error],
                        "documentation_url": _DOCS})


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
