"""The demo's intents folder as a local git repository: every approval the directory sink
writes becomes one commit, so a newcomer reads the history with ``git log``. Wraps the
directory sink; nothing is pushed anywhere (the git sink does that for a real repository)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chatbot.events.model import Target, Workload
from chatbot.forge.git import Git, GitIdentity
from chatbot.intents.directory import DirectorySink
from chatbot.intents.document import ApprovalNote
from chatbot.intents.sink import Applied

IDENTITY = GitIdentity(name="flow-approval-chatbot", email="flow-approval-chatbot@localhost")


class CommittingSink:
    def __init__(self, path: Path, *, executable: str = "git") -> None:
        self._path = path
        self._files = DirectorySink(path)
        # No remote: the URL is only a label in logs.
        self._git = Git(remote_url=str(path), identity=IDENTITY, executable=executable)
        self._lock = asyncio.Lock()

    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        async with self._lock:
            applied = await self._files.apply(client=client, target=target, note=note)
            if applied.changed:
                await self._commit(applied, client, note)
            return applied

    async def close(self) -> None:
        await self._files.close()

    async def _commit(self, applied: Applied, client: Workload, note: ApprovalNote) -> None:
        if not (self._path / ".git").is_dir():
            await self._git.run("init", "--quiet", "--initial-branch", "main", cwd=self._path)
        file = Path(applied.object_ref).name
        await self._git.run("add", "--", file, cwd=self._path)
        message = (f"Allow {client.namespace}/{client.name}: {file}\n\n"
                   f"Anomaly {note.anomaly_id}, approved by {note.approved_by} at "
                   f"{note.approved_at.isoformat()}.\n")
        await self._git.run("commit", "--quiet", "--no-verify", "--file", "-", cwd=self._path,
                            stdin=message)
