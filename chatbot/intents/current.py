"""The client's intents as they stand, for the card: one short line per target, read through
the sink (cluster or directory) and kept for a few seconds, so a busy channel does not turn
every card render into an apiserver read. Best effort: a read that fails leaves the card
without the section rather than holding the message back."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from chatbot.events.model import Workload
from chatbot.intents.document import Document

log = logging.getLogger(__name__)

Reader = Callable[[Workload], Awaitable[Document | None]]
TTL_SECONDS = 15.0
MAX_CACHED = 2000


@runtime_checkable
class IntentsReader(Protocol):
    async def read(self, client: Workload) -> Document | None:
        ...


class CurrentIntents:
    def __init__(self, *, read: Reader, ttl: float = TTL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str, str], tuple[float, tuple[str, ...]]] = {}

    async def targets(self, client: Workload) -> tuple[str, ...] | None:
        """The lines, ``()`` when the workload has no intents, None when unknown."""
        key = (client.namespace, client.name, client.kind)
        now = self._monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            document = await self._read(client)
        except Exception as error:  # the card goes out without this section
            log.warning("cannot read the current intents of %s/%s: %s", client.namespace,
                        client.name, error)
            return None
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        lines = describe_targets(document)
        self._cache[key] = (now, lines)
        return lines

    def forget(self, client: Workload) -> None:
        """After a write: the next card shows the object as it now stands."""
        self._cache.pop((client.namespace, client.name, client.kind), None)


def describe_targets(document: Document | None) -> tuple[str, ...]:
    spec = (document or {}).get("spec") or {}
    targets = spec.get("targets") if isinstance(spec, dict) else None
    return tuple(line for line in (_line(entry) for entry in targets or ()) if line)


def _line(entry: Any) -> str | None:
    if not isinstance(entry, dict) or len(entry) != 1:
        return None
    ((key, body),) = entry.items()
    if not isinstance(body, dict):
        return None
    if key == "internet":
        where = ", ".join(str(v) for v in (*(body.get("domains") or ()),
                                           *(body.get("ips") or ())))
        ports = body.get("ports")
        on = f"port {', '.join(str(p) for p in ports)}" if ports else "every port"
        return f"internet {where or '?'} on {on}"
    name = str(body.get("name", "?"))
    kind = f" ({body['kind']})" if isinstance(body.get("kind"), str) else ""
    if key == "kafka":
        topics = [f"{t.get('name')} ({', '.join(t.get('operations') or ['all'])})"
                  for t in body.get("topics") or () if isinstance(t, dict)]
        return f"kafka {name}{kind}: {'; '.join(topics) or 'every topic'}"
    calls = [f"{' '.join(c.get('methods') or ['any method'])} {c.get('path')}"
             for c in body.get("http") or () if isinstance(c, dict)]
    return f"{key} {name}{kind}: {'; '.join(calls) or 'every call'}"
