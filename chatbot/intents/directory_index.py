"""With the directory sink, the files in the intents directory are the approved intents: this
keeps the coverage index (coverage.py) equal to them. It re-reads a file only when its inode, size
or modification time changed, so polling a GitOps checkout every few seconds costs a few stats.

A file may hold several YAML documents (``---``); each ClientIntents in it counts, under its
``metadata.namespace``/``metadata.name``. A file that is not valid YAML grants nothing until it
is fixed (named in ``problems`` and logged once), so a half-written file can only make more
cards, never fewer. The sink's own temporary files (``.name.tmp``) are ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chatbot.intents.coverage import CoverageIndex, IntentRef

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
SUFFIXES = (".yaml", ".yml", ".json")

OnChange = Callable[[IntentRef, dict[str, Any] | None], Awaitable[None]]
_Stamp = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _Read:
    stamp: _Stamp
    documents: dict[IntentRef, dict[str, Any]]
    problem: str | None = None


class DirectoryIndex:
    def __init__(self, path: Path, *, index: CoverageIndex, on_change: OnChange | None = None,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self._path = path
        self._index = index
        self._on_change = on_change
        self._poll_seconds = poll_seconds
        self._files: dict[Path, _Read] = {}
        self.synced = asyncio.Event()
        self.problems: dict[Path, str] = {}

    def file_of(self, ref: IntentRef) -> Path | None:
        for path, read in self._files.items():
            if ref in read.documents:
                return path
        return None

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._poll_seconds)

    async def refresh(self) -> list[IntentRef]:
        """Re-read what changed on disk; returns the refs that appeared, changed or went."""
        stamps = await asyncio.to_thread(_stamps, self._path)
        changed_files = [path for path, stamp in stamps.items()
                         if path not in self._files or self._files[path].stamp != stamp]
        fresh = await asyncio.to_thread(lambda: {path: _read(path, stamps[path])
                                                 for path in changed_files})
        before = self._documents()
        for path in self._files.keys() - stamps.keys():
            del self._files[path]
            self.problems.pop(path, None)
        for path, read in fresh.items():
            self._files[path] = read
            if read.problem is None:
                self.problems.pop(path, None)
            elif self.problems.get(path) != read.problem:
                self.problems[path] = read.problem
                log.warning("intents directory: %s grants nothing until fixed: %s", path,
                            read.problem)
        after = self._documents()
        changed = [ref for ref in before.keys() | after.keys()
                   if before.get(ref) != after.get(ref)]
        for ref in sorted(changed):
            if ref in after:
                self._index.upsert(ref, after[ref])
            else:
                self._index.remove(ref)
        self.synced.set()
        for ref in sorted(changed):
            if self._on_change is not None:
                await self._on_change(ref, after.get(ref))
        return sorted(changed)

    def _documents(self) -> dict[IntentRef, dict[str, Any]]:
        found: dict[IntentRef, dict[str, Any]] = {}
        for path in sorted(self._files):
            for ref, document in self._files[path].documents.items():
                found.setdefault(ref, document)  # the same object twice: the first file wins
        return found


def _stamps(directory: Path) -> dict[Path, _Stamp]:
    stamps: dict[Path, _Stamp] = {}
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return stamps
    for entry in entries:
        if entry.name.startswith(".") or entry.suffix not in SUFFIXES:
            continue
        try:
            status = entry.stat()
        except FileNotFoundError:
            continue  # renamed away between the listing and the stat
        if entry.is_file():
            stamps[entry] = (status.st_ino, status.st_mtime_ns, status.st_size)
    return stamps


def _read(path: Path, stamp: _Stamp) -> _Read:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return _Read(stamp, {}, f"cannot read it: {exc}")
    found: dict[IntentRef, dict[str, Any]] = {}
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "ClientIntents":
            continue
        metadata = document.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(namespace, str) or not isinstance(name, str):
            return _Read(stamp, {}, "a ClientIntents in it has no metadata.namespace and name")
        found[IntentRef(namespace, name)] = document
    return _Read(stamp, found)
