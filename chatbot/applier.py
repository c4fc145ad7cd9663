"""Applying approvals: write the approved target into the client's ClientIntents.

Works from stored state: every anomaly that is ``approved`` (or ``apply_failed`` and due for
a retry) is claimed with a short lease, written through the intents sink, and recorded as
``applied`` or ``apply_failed``. A failure is retried no sooner than the delay its error
names (:class:`TemporaryError` knows best: a busy apiserver's Retry-After, a refusal an
operator must fix), and later as failures repeat (exponential backoff, capped). The sink's
merge is idempotent, so a crash between the write and the record re-applies harmlessly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card
from chatbot.chaos import crash_point
from chatbot.clock import Clock
from chatbot.errors import ChatbotError, PermanentError, TemporaryError
from chatbot.intents.document import ApprovalNote
from chatbot.intents.sink import Applied, IntentsSink
from chatbot.lifecycle import State
from chatbot.store import anomalies
from chatbot.store.audit import record
from chatbot.waiting import nap

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = 300.0
PERMANENT_BACKOFF = 3600.0

FailureNote = Callable[[Card], Awaitable[None]]


def backoff(attempts: int) -> float:
    return float(min(MAX_BACKOFF, 2 ** max(0, attempts - 1)))


def retry_delay(error: BaseException, attempts: int) -> float:
    """Seconds until the next attempt: at least what a temporary error names (and longer as
    failures repeat), an hour for a permanent one (an operator may still fix the cause),
    exponential backoff for anything unknown."""
    if isinstance(error, TemporaryError):
        return max(error.delay, backoff(attempts))
    if isinstance(error, PermanentError):
        return PERMANENT_BACKOFF
    return backoff(attempts)


class Applier:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        sink: IntentsSink,
        clock: Clock,
        on_changed: Callable[[str], None] = lambda _id: None,
        on_first_failure: FailureNote | None = None,
        observe_latency: Callable[[float], None] = lambda _s: None,
    ) -> None:
        self._sessions = sessions
        self._sink = sink
        self._clock = clock
        self._on_changed = on_changed
        self._on_first_failure = on_first_failure
        self._observe_latency = observe_latency
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, poll_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.apply_due()
            except Exception:  # a bug or a DB outage must not end the loop
                log.exception("applying approvals failed; retrying")
            self._wake.clear()
            await nap(self._wake, stop, seconds=poll_seconds)

    async def apply_due(self, limit: int = 50) -> int:
        async with self._sessions() as session:
            due = await anomalies.due_applies(session, now=self._clock.now(), limit=limit)
        done = 0
        for anomaly_id, lease in due:
            card = await self._claim(anomaly_id, lease)
            if card is not None:
                await self._apply(card)
                done += 1
        return done

    async def _claim(self, anomaly_id: str, seen_lease: datetime | None) -> Card | None:
        """Take the anomaly for LEASE seconds; another replica that read the same row loses."""
        async with self._sessions.begin() as session:
            if not await anomalies.claim_apply(session, anomaly_id, seen_lease=seen_lease,
                                               until=self._clock.now() + LEASE):
                return None
            return await anomalies.load_card(session, anomaly_id)

    async def _apply(self, card: Card) -> None:
        started = self._clock.monotonic()
        note = ApprovalNote(anomaly_id=card.anomaly_id, approved_by=card.decided_by or "unknown",
                            approved_at=card.decided_at or self._clock.now())
        try:
            crash_point("before_apply")
            applied = await self._sink.apply(client=card.client, target=card.target, note=note)
        except ChatbotError as error:
            await self._failed(card, error)
            return
        except Exception as error:  # unknown failures are retried like temporary ones
            log.exception("intents sink failed", extra={"anomaly_id": card.anomaly_id})
            await self._failed(card, error)
            return
        self._observe_latency(self._clock.monotonic() - started)
        crash_point("after_apply")
        await self._succeeded(card, applied)

    async def _succeeded(self, card: Card, applied: Applied) -> None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            if not await anomalies.compare_and_set(
                    session, card.anomaly_id, version=card.version,
                    changes={"state": State.APPLIED, "applied_at": now,
                             "applied_object": applied.object_ref, "apply_error": None,
                             "next_apply_at": None}):
                log.warning("the anomaly changed while its intent was written; left as is",
                            extra={"anomaly_id": card.anomaly_id})
                return
            record(session, anomaly_id=card.anomaly_id, actor="system", action="apply",
                   result="applied" if applied.changed else "unchanged", now=now,
                   detail={"object": applied.object_ref})
        self._on_changed(card.anomaly_id)

    async def _failed(self, card: Card, error: BaseException) -> None:
        now = self._clock.now()
        attempts = card.apply_attempts + 1
        delay = retry_delay(error, attempts)
        message = str(error)[:1000] or type(error).__name__
        async with self._sessions.begin() as session:
            if not await anomalies.compare_and_set(
                    session, card.anomaly_id, version=card.version,
                    changes={"state": State.APPLY_FAILED, "apply_attempts": attempts,
                             "apply_error": message,
                             "next_apply_at": now + timedelta(seconds=delay)}):
                return
            record(session, anomaly_id=card.anomaly_id, actor="system", action="apply",
                   result="failed", now=now,
                   detail={"error": message, "attempt": attempts, "retry_in": delay})
            failed = await anomalies.load_card(session, card.anomaly_id)
        log.warning("writing the intent failed (attempt %d, retry in %.0fs): %s",
                    attempts, delay, message, extra={"anomaly_id": card.anomaly_id})
        self._on_changed(card.anomaly_id)
        if attempts == 1 and self._on_first_failure is not None and failed is not None:
            await self._on_first_failure(failed)
