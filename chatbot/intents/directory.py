"""The embedded intents sink: one YAML file per client workload (``<workload>.<namespace>.yaml``)
in a directory, ready to commit to a GitOps repository. Same merge and removal rules as the
cluster."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from chatbot.errors import TemporaryError
from chatbot.events.model import Target, Workload
from chatbot.intents.document import ApprovalNote, Document, merge, target_entry
from chatbot.intents.removal import Keep, remove
from chatbot.intents.sink import Applied, Revoked

BROKEN_FILE_DELAY = 60.0
IO_DELAY = 5.0


class DirectorySink:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._locks: dict[Path, asyncio.Lock] = {}

    def file_for(self, client: Workload) -> Path:
        return self._path / f"{client.name}.{client.namespace}.yaml"

    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        file = self.file_for(client)
        entry = target_entry(client, target)
        async with self._locks.setdefault(file, asyncio.Lock()):
            existing = await asyncio.to_thread(_read, file)
            merged = merge(existing, client=client, entry=entry, note=note)
            if merged.changed:
                await asyncio.to_thread(write_yaml, file, merged.document)
        return Applied(str(file), changed=merged.changed, document=merged.document)

    async def revoke(self, *, client: Workload, target: Target, anomaly_id: str,
                     keep: Sequence[Keep]) -> Revoked:
        file = self.file_for(client)
        entry = target_entry(client, target)
        async with self._locks.setdefault(file, asyncio.Lock()):
            existing = await asyncio.to_thread(_read, file)
            if existing is None:
                return Revoked(None, changed=False, recorded=False)
            removal = remove(existing, client=client, anomaly_id=anomaly_id, entry=entry,
                             keep=keep)
            if removal.changed:
                await asyncio.to_thread(write_yaml, file, removal.document)
        return Revoked(str(file), changed=removal.changed, recorded=removal.recorded,
                       removed=removal.removed, kept_for=removal.kept_for,
                       still_allowed=removal.still_allowed)

    async def read(self, client: Workload) -> Document | None:
        """The workload's file as it stands (for the card), or None."""
        return await asyncio.to_thread(_read, self.file_for(client))

    async def close(self) -> None:
        return None


def _read(file: Path) -> Document | None:
    return read_yaml(file, holds="ClientIntents object")


def read_yaml(file: Path, *, holds: str, kind: str | None = None) -> Document | None:
    """One object from a YAML file, None when there is none; a file that cannot be read or
    does not hold the expected object (``kind``, when given) is a TemporaryError naming it
    (the NetworkPolicy directory sink reads its files with this too)."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TemporaryError(f"cannot read {file}: {exc}", delay=IO_DELAY) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemporaryError(
            f"{file} is not valid YAML, fix or remove it: {exc}", delay=BROKEN_FILE_DELAY
        ) from exc
    if document is None:
        return None
    if not isinstance(document, dict) or (kind is not None and document.get("kind") != kind):
        raise TemporaryError(f"{file} does not hold a {holds}, fix or remove it",
                             delay=BROKEN_FILE_DELAY)
    return document


def write_yaml(file: Path, document: Document) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file (the
    NetworkPolicy directory sink writes its files with this too)."""
    text = yaml.safe_dump(document, sort_keys=False)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=file.parent, prefix=f".{file.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; these files are for a repository
            os.replace(temporary, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_directory(file.parent)
    except OSError as exc:
        raise TemporaryError(f"cannot write {file}: {exc}", delay=IO_DELAY) from exc


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
