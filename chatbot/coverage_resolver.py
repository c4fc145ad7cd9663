"""Covered elsewhere: a flow nobody has decided yet that a ClientIntents written outside the bot
(a GitOps change merged by hand, another tool) now allows resolves itself, from stored state.

In the flow: the ClientIntents watcher (or the intents directory) changes the coverage index
-> :meth:`CoverageResolver.changed` wakes this worker -> it pages through the undecided
anomalies, asks the index about each stored flow, and compare-and-sets every covered one to
``covered`` with the ClientIntents' ``namespace/name`` and an audit entry by actor ``system``
in one transaction -> ``on_resolved`` (the outbox re-renders the card: no buttons, "now
covered by …"). A person's decision that lands first wins: the compare-and-set fails and the
flow is left as decided. Two replicas doing this at once audit it once, for the same reason.

Many changes at once (a re-list, a directory full of files) make one pass: a wake-up waits
``debounce_seconds`` for the rest before reading. A pass also runs at start and every
``scan_seconds``, for a flow stored just after the index moved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card
from chatbot.clock import Clock
from chatbot.events.model import FlowEvent
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.lifecycle import COVERABLE_STATES, State
from chatbot.store import anomalies
from chatbot.store.audit import record
from chatbot.waiting import nap

log = logging.getLogger(__name__)

SYSTEM = "system"
ACTION = "covered"
PAGE_SIZE = 500
SCAN_SECONDS = 300.0
DEBOUNCE_SECONDS = 0.5
RETRY_SECONDS = 5.0


class CoverageResolver:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], index: CoverageIndex,
                 clock: Clock, on_resolved: Callable[[str], None] = lambda _id: None,
                 scan_seconds: float = SCAN_SECONDS,
                 debounce_seconds: float = DEBOUNCE_SECONDS,
                 page_size: int = PAGE_SIZE) -> None:
        """``index``: the one the watcher keeps current. ``on_resolved(id)``: the flow is
        ``covered`` now (its message needs re-rendering)."""
        self._sessions = sessions
        self._index = index
        self._clock = clock
        self._on_resolved = on_resolved
        self._scan_seconds = scan_seconds
        self._debounce_seconds = debounce_seconds
        self._page_size = page_size
        self._wake = asyncio.Event()
        self.passes = 0
        """Passes over the undecided flows so far (a burst of changes makes one)."""

    def wake(self) -> None:
        self._wake.set()

    async def changed(self, _ref: IntentRef, _document: dict[str, Any] | None) -> None:
        """The ``on_change`` of :class:`~chatbot.intents.watch.IntentsWatcher` and
        :class:`~chatbot.intents.directory_index.DirectoryIndex`: only wakes the worker (an
        intent that went away uncovers nothing already resolved; one that changed may cover
        more)."""
        self.wake()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self._wake.is_set():
                await nap(stop, seconds=self._debounce_seconds)
                if stop.is_set():
                    return
            self._wake.clear()  # before reading: a change during the pass makes another
            wait = self._scan_seconds
            try:
                await self.resolve()
            except Exception:  # a database outage must not end the loop
                log.exception("covered-elsewhere pass failed; retrying")
                wait = min(wait, RETRY_SECONDS)
            await nap(self._wake, stop, seconds=wait)

    async def resolve(self) -> list[str]:
        """One pass: every undecided flow the index covers now becomes ``covered``; the ids
        this call resolved (not those another replica or a person got to first)."""
        self.passes += 1
        resolved: list[str] = []
        after: str | None = None
        while True:
            async with self._sessions() as session:
                page = await anomalies.coverable(session, after=after, limit=self._page_size)
            resolved += await self.cover(page)
            if len(page) < self._page_size:
                return resolved
            after = page[-1].anomaly_id

    async def cover(self, cards: Iterable[Card]) -> list[str]:
        """Resolve those of ``cards`` (as read from the store) the index covers now, each in
        its own transaction; the ids resolved. A card that changed since it was read is left
        alone: whoever changed it was first."""
        resolved: list[str] = []
        for card in cards:
            if card.state not in COVERABLE_STATES:
                continue  # decided: the decision stands (its version pins this state)
            ref = self._index.covering(_flow(card))
            if ref is not None and await self._cover(card, ref):
                resolved.append(card.anomaly_id)
                self._on_resolved(card.anomaly_id)
        return resolved

    async def _cover(self, card: Card, ref: IntentRef) -> bool:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            if not await anomalies.compare_and_set(
                    session, card.anomaly_id, version=card.version,
                    changes={"state": State.COVERED, "covered_by": str(ref),
                             "decided_at": now}):
                return False  # decided (or resolved by another replica) since it was read
            record(session, anomaly_id=card.anomaly_id, actor=SYSTEM, action=ACTION,
                   result="ok", now=now,
                   detail={"intents": str(ref), "from": card.state.value,
                           "to": State.COVERED.value})
        log.info("covered by ClientIntents %s", ref, extra={"anomaly_id": card.anomaly_id})
        return True


def _flow(card: Card) -> FlowEvent:
    """The stored flow as the index reads one (identity only: timing and counts are not
    compared)."""
    return FlowEvent(event_id=card.anomaly_id, observed_at=card.last_seen,
                     cluster=card.cluster, client=card.client, target=card.target)
