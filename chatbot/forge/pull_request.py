"""What the git sink needs from a forge, whichever one it is: find the pull request a bot
branch already has (so a restart after a crash opens no second one), open one, and learn its
state cheaply by polling with conditional requests."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PullRequestState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"
    """Closed without merging."""


@dataclass(frozen=True)
class PullRequest:
    """A pull request as the sink tracks it; ``etag`` validates the next poll."""

    number: int
    url: str
    state: PullRequestState
    head_branch: str
    base_branch: str
    head_sha: str
    title: str
    merge_commit_sha: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Poll:
    """One poll's answer; ``changed`` is False when the forge said 304 Not Modified."""

    pull_request: PullRequest
    changed: bool


class Forge(Protocol):
    """One repository on one forge, reached with one token."""

    @property
    def kind(self) -> str:
        """``gitea`` or ``github``, for logs and configuration checks."""
        ...

    async def find_pull_request(
        self, *, head_branch: str, base_branch: str
    ) -> PullRequest | None:
        """The open pull request from ``head_branch`` into ``base_branch``; failing that
        the most recent closed or merged one; None when the branch never had one."""
        ...

    async def create_pull_request(
        self, *, head_branch: str, base_branch: str, title: str, body: str
    ) -> PullRequest:
        """Open a pull request; if one is already open for the branch, return that one."""
        ...

    async def update_pull_request(self, *, number: int, title: str, body: str) -> PullRequest:
        """Rewrite the title and description (a batch that grew)."""
        ...

    async def poll_pull_request(
        self, *, number: int, previous: PullRequest | None = None
    ) -> Poll:
        """The current state; with ``previous`` the request is conditional on its ETag and a
        304 answer returns ``previous`` unchanged."""
        ...
