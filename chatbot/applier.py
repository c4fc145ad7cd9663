"""Applying decisions: write the approved target into the client's ClientIntents, or take a
revoked approval's target out again.

Works from stored state: every anomaly that is ``approved`` (or ``apply_failed`` and due for
a retry) is claimed with a short lease, written through the intents sink, and recorded as
``applied`` or ``apply_failed``; one that is ``revoking`` is claimed the same way, its target
removed (keeping what the workload's other applied approvals need) and recorded as
``revoked``, or left ``revoking`` with the error and retried. A failure is retried no sooner
than the delay its error names (:class:`TemporaryError` knows best: a busy apiserver's
Retry-After, a refusal an operator must fix), and later as failures repeat (exponential
backoff, capped). The sink's merge and removal are idempotent, so a crash between the write
and the record re-applies harmlessly.
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
from chatbot.events.model import Workload
from chatbot.intents.document import target_entry
from chatbot.intents.provenance import approval_note
from chatbot.intents.removal import Keep
from chatbot.intents.sink import Applied, IntentsSink, Revoked, RevokingSink
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
        on_written: Callable[[Workload], None] = lambda _client: None,
    ) -> None:
        self._sessions = sessions
        self._sink = sink
        self._clock = clock
        self._on_changed = on_changed
        self._on_first_failure = on_first_failure
        self._observe_latency = observe_latency
        self._on_written = on_written
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

    async def run_one(self, anomaly_id: str) -> Card | None:
        """Do the anomaly's due work now, if no one else holds it (break-glass from the CLI);
        the card as it stands afterwards."""
        async with self._sessions() as session:
            due = {i: lease for i, lease in await anomalies.due_applies(
                session, now=self._clock.now(), limit=1000)}
        if anomaly_id in due:
            card = await self._claim(anomaly_id, due[anomaly_id])
            if card is not None:
                await self._apply(card)
        async with self._sessions() as session:
            return await anomalies.load_card(session, anomaly_id)

    async def _claim(self, anomaly_id: str, seen_lease: datetime | None) -> Card | None:
        """Take the anomaly for LEASE seconds; another replica that read the same row loses."""
        async with self._sessions.begin() as session:
            if not await anomalies.claim_apply(session, anomaly_id, seen_lease=seen_lease,
                                               until=self._clock.now() + LEASE):
                return None
            return await anomalies.load_card(session, anomaly_id)

    async def _apply(self, card: Card) -> None:
        if card.state is State.REVOKING:
            await self._revoke(card)
            return
        started = self._clock.monotonic()
        note = approval_note(card)
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
            if applied.changed:
                await anomalies.touch_client(session, card)
        self._written(card)

    async def _revoke(self, card: Card) -> None:
        async with self._sessions() as session:
            others = await anomalies.applied_for_client(session, card)
        keep = [Keep(anomaly_id=other.anomaly_id, entry=target_entry(other.client, other.target),
                     note=approval_note(other)) for other in others]
        try:
            if not isinstance(self._sink, RevokingSink):
                raise PermanentError("this output cannot take an approval back yet: remove the "
                                     "target from the written policy or file by hand")
            revoked = await self._sink.revoke(client=card.client, target=card.target,
                                              anomaly_id=card.anomaly_id, keep=keep)
        except Exception as error:  # like an apply: known errors name their delay
            if not isinstance(error, ChatbotError):
                log.exception("intents sink failed to revoke",
                              extra={"anomaly_id": card.anomaly_id})
            await self._failed(card, error)
            return
        now = self._clock.now()
        async with self._sessions.begin() as session:
            if not await anomalies.compare_and_set(
                    session, card.anomaly_id, version=card.version,
                    changes={"state": State.REVOKED, "revoke_result": revoke_summary(revoked),
                             "apply_error": None, "next_apply_at": None}):
                return
            record(session, anomaly_id=card.anomaly_id, actor="system", action="remove",
                   result="removed" if revoked.changed else "nothing_removed", now=now,
                   detail={"object": revoked.object_ref, "removed": list(revoked.removed),
                           "kept_for": list(revoked.kept_for),
                           "still_allowed": revoked.still_allowed})
            if revoked.changed:
                await anomalies.touch_client(session, card)
        self._written(card)

    def _written(self, card: Card) -> None:
        self._on_written(card.client)
        self._on_changed(card.anomaly_id)

    async def _failed(self, card: Card, error: BaseException) -> None:
        now = self._clock.now()
        attempts = card.apply_attempts + 1
        delay = retry_delay(error, attempts)
        message = str(error)[:1000] or type(error).__name__
        # A failed removal stays "revoking" (the decision stands); a failed write is shown.
        removing = card.state is State.REVOKING
        async with self._sessions.begin() as session:
            if not await anomalies.compare_and_set(
                    session, card.anomaly_id, version=card.version,
                    changes={"state": State.REVOKING if removing else State.APPLY_FAILED,
                             "apply_attempts": attempts, "apply_error": message,
                             "next_apply_at": now + timedelta(seconds=delay)}):
                return
            record(session, anomaly_id=card.anomaly_id, actor="system",
                   action="remove" if removing else "apply", result="failed", now=now,
                   detail={"error": message, "attempt": attempts, "retry_in": delay})
            failed = await anomalies.load_card(session, card.anomaly_id)
        log.warning("writing the intent failed (attempt %d, retry in %.0fs): %s",
                    attempts, delay, message, extra={"anomaly_id": card.anomaly_id})
        self._on_changed(card.anomaly_id)
        if attempts == 1 and self._on_first_failure is not None and failed is not None:
            await self._on_first_failure(failed)


def revoke_summary(revoked: Revoked) -> str:
    """One line for the card: what the revoke took away, and what still allows the flow."""
    where = revoked.object_ref or "the workload's ClientIntents"
    if revoked.changed and revoked.recorded:
        text = f"removed what this approval added from {where}"
    elif revoked.object_ref is None:
        text = "nothing to remove: the workload has no ClientIntents"
    elif not revoked.recorded:
        text = f"nothing removed: {where} has no record of this approval adding anything"
    else:
        text = f"nothing left to remove in {where}"
    if revoked.kept_for:
        text += (f"; {len(revoked.kept_for)} other approval(s) still in force keep the part "
                 "they need")
    if revoked.still_allowed:
        text += "; the flow stays allowed by targets the bot did not add"
    return text[:500]
