"""The git sink's writing half: a batch of approved flows becomes one commit on a bot branch
(the same ``<workload>.<namespace>.yaml`` files the directory sink writes, merged into what the
base branch holds) and one pull request on the forge.

The branch is rebuilt from the base branch on every attempt, so the commit always merges the
approvals into the files as the base holds them *now*: targets someone else committed
meanwhile survive, because they are read back before ours are added (never overwritten). The
pull request is looked up by branch before one is opened, so a run that died after the push
opens no second one. The batch bookkeeping (which flows, which branch) is the proposer's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chatbot.chaos import crash_point
from chatbot.events.model import Target, Workload
from chatbot.forge.pull_request import Forge, Poll, PullRequest, PullRequestState
from chatbot.forge.repo import WorkingCopy
from chatbot.intents.document import ApprovalNote
from chatbot.intents.sink import IntentsSink

FolderSink = Callable[[Path], IntentsSink]
"""Builds the sink that writes one format's files into a folder of the working copy."""


@dataclass(frozen=True, slots=True)
class Approval:
    client: Workload
    target: Target
    note: ApprovalNote


@dataclass(frozen=True, slots=True)
class Built:
    files: tuple[str, ...]
    """Repository paths the batch writes (relative, POSIX)."""
    changed: bool
    """False when the base branch already allows every flow: no commit, no pull request."""


class GitSink:
    """Proposes batches to one repository folder through ``copy`` and ``forge``."""

    def __init__(self, *, copy: WorkingCopy, forge: Forge, folder: str,
                 folder_sink: FolderSink) -> None:
        self._copy = copy
        self._forge = forge
        self._folder = folder.strip("/")
        self._folder_sink = folder_sink
        # One working copy, one checkout at a time.
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"GitSink({self._copy!r}, {self._forge.kind}, folder {self._folder!r})"

    @property
    def base_branch(self) -> str:
        return self._copy.base_branch

    async def push(self, *, branch: str, approvals: Sequence[Approval], message: str) -> Built:
        """Rebuild ``branch`` from the base with every approval merged in, commit, push."""
        async with self._lock:
            await self._copy.sync()
            await self._copy.start_branch(branch, resume=False)
            sink = self._folder_sink(self._copy.path / self._folder)
            files: list[str] = []
            for approval in approvals:
                applied = await sink.apply(client=approval.client, target=approval.target,
                                           note=approval.note)
                files.extend(self._relative(ref) for ref in applied.object_ref.split(", "))
            committed = await self._copy.commit(message)
            if committed is None:
                return Built(files=tuple(dict.fromkeys(files)), changed=False)
            # Rebuilt from the base, the branch may not fast-forward from what it held: the
            # lease still refuses to overwrite a push made since the last fetch.
            await self._copy.push(branch, replace=True)
            crash_point("after_push")
            return Built(files=tuple(dict.fromkeys(files)), changed=True)

    async def base_moved_under(self, branch: str) -> bool:
        """True when the base branch gained commits the bot branch does not contain."""
        async with self._lock:
            await self._copy.sync()
            if await self._copy.remote_head(branch) is None:
                return True
            await self._copy.start_branch(branch, resume=True)
            return await self._copy.base_moved()

    async def open_pull_request(self, *, branch: str, title: str, body: str) -> PullRequest:
        """The branch's pull request: the open one (its text brought up to date), a merged or
        closed one an earlier run already saw settle, or a new one."""
        found = await self._forge.find_pull_request(head_branch=branch,
                                                    base_branch=self.base_branch)
        if found is None:
            return await self._forge.create_pull_request(
                head_branch=branch, base_branch=self.base_branch, title=title, body=body)
        if found.state is PullRequestState.OPEN:
            return await self._forge.update_pull_request(number=found.number, title=title,
                                                         body=body)
        return found

    async def poll(self, *, number: int, previous: PullRequest | None) -> Poll:
        return await self._forge.poll_pull_request(number=number, previous=previous)

    def _relative(self, ref: str) -> str:
        path = Path(ref)
        try:
            return path.relative_to(self._copy.path).as_posix()
        except ValueError:
            return ref
