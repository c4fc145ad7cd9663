"""The demo's intents folder as a local git repository: every approval the directory sink
writes becomes one commit, and so does every revoke, so a newcomer reads the history with
``git log``. Wraps the directory sink; nothing is pushed anywhere (the git sink does that for
a real repository)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from chatbot.events.model import Target, Workload
from chatbot.forge.git import Git, GitIdentity
from chatbot.intents.directory import DirectorySink
from chatbot.intents.document import ApprovalNote, Document
from chatbot.intents.removal import Keep
from chatbot.intents.sink import Applied, Revoked

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
                message = (f"Allow {client.namespace}/{client.name}: "
                           f"{Path(applied.object_ref).name}\n\n"
                           f"Anomaly {note.anomaly_id}, approved by {note.approved_by} at "
                           f"{note.approved_at.isoformat()}.\n")
                await self._commit(applied.object_ref, message)
            return applied

    async def revoke(self, *, client: Workload, target: Target, anomaly_id: str,
                     keep: Sequence[Keep]) -> Revoked:
        async with self._lock:
            revoked = await self._files.revoke(client=client, target=target,
                                               anomaly_id=anomaly_id, keep=keep)
            if revoked.changed and revoked.object_ref is not None:
                message = (f"Revoke {client.namespace}/{client.name}: "
                           f"{Path(revoked.object_ref).name}\n\n"
                           f"Anomaly {anomaly_id}: the target its approval added is removed.\n")
                await self._commit(revoked.object_ref, message)
            return revoked

    async def read(self, client: Workload) -> Document | None:
        return await self._files.read(client)

    async def close(self) -> None:
        await self._files.close()

    async def _commit(self, object_ref: str, message: str) -> None:
        if not (self._path / ".git").is_dir():
            await self._git.run("init", "--quiet", "--initial-branch", "main", cwd=self._path)
        file = Path(object_ref).name
        await self._git.run("add", "--", file, cwd=self._path)
        await self._git.run("commit", "--quiet", "--no-verify", "--file", "-", cwd=self._path,
                            stdin=message)
