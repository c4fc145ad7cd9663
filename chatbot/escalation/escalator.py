"""The escalation timer and the automatic triggers, working from stored state.

New and retried flows are checked as soon as the pipeline stores them (a hint); the whole
set of open anomalies is re-checked on a timer by the replica holding the lease, which also
catches anything a crash left unchecked. Each escalation is a compare-and-set on the row's
``version``, audited, so whichever path sees a trigger first escalates exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.escalation.leader import Leader, SoleLeader
from chatbot.escalation.triggers import Due, Facts, due
from chatbot.events.model import KafkaTarget, KubernetesTarget
from chatbot.lifecycle import SYSTEM_ESCALATABLE, State
from chatbot.store import anomalies
from chatbot.store.anomalies import Changes
from chatbot.store.audit import record
from chatbot.waiting import nap

log = logging.getLogger(__name__)


class Escalator:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], rules: Rules,
                 clock: Clock, leader: Leader | None = None,
                 on_escalated: Callable[[str], None] = lambda _id: None) -> None:
        self._sessions = sessions
        self._rules = rules
        self._clock = clock
        self._leader = leader or SoleLeader()
        self._on_escalated = on_escalated
        self._hints: set[str] = set()
        self._wake = asyncio.Event()

    def hint(self, anomaly_ids: Iterable[str]) -> None:
        self._hints.update(anomaly_ids)
        if self._hints:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        next_scan = 0.0
        try:
            while not stop.is_set():
                try:
                    if self._hints:
                        hinted, self._hints = self._hints, set()
                        await self.check(hinted)
                    if self._clock.monotonic() >= next_scan:
                        next_scan = self._clock.monotonic() + self._rules.escalation.timer_seconds
                        if await self._leader.lead():
                            await self.check(None)
                except Exception:
                    log.exception("escalation check failed; retrying")
                self._wake.clear()
                await nap(self._wake, stop, seconds=self._rules.escalation.timer_seconds)
        finally:
            await self._leader.resign()

    async def check(self, anomaly_ids: set[str] | None) -> int:
        """Escalate what is due among ``anomaly_ids`` (None: every open anomaly)."""
        now = self._clock.now()
        async with self._sessions() as session:
            candidates = await anomalies.escalation_candidates(session, ids=anomaly_ids)
        escalated = 0
        for card in candidates:
            reason = due(facts_of(card), self._rules.escalation, now)
            if reason and await self.escalate(card.anomaly_id, card.version, card.state,
                                              reason, now):
                escalated += 1
        return escalated

    async def escalate(self, anomaly_id: str, version: int, state: State, reason: Due,
                       now: datetime) -> bool:
        if state not in SYSTEM_ESCALATABLE:
            return False
        changes: Changes = {"state": State.ESCALATED, "escalated_at": now,
                            "escalation_reason": reason.reason[:200],
                            "escalation_trigger": reason.trigger.value}
        if reason.raise_to_critical:
            changes["severity"] = "critical"
        async with self._sessions.begin() as session:
            if not await anomalies.compare_and_set(session, anomaly_id, version=version,
                                                   changes=changes):
                return False
            record(session, anomaly_id=anomaly_id, actor="system", action="escalate",
                   result="ok", now=now,
                   detail={"trigger": reason.trigger.value, "reason": reason.reason,
                           "from": state.value})
        log.info("escalated (%s): %s", reason.trigger, reason.reason,
                 extra={"anomaly_id": anomaly_id})
        self._on_escalated(anomaly_id)
        return True


def facts_of(card: Card) -> Facts:
    target = card.target
    target_namespace = (target.namespace if isinstance(target, KubernetesTarget | KafkaTarget)
                        else None)
    return Facts(state=card.state, severity=card.severity.value,
                 client_namespace=card.client.namespace, target_namespace=target_namespace,
                 client_labels=card.client.labels, detected_at=card.detected_at,
                 escalated_at=card.escalated_at,
                 retried_after_block_at=card.retried_after_block_at)
