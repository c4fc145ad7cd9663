"""Snoozing a flow: the person asks to hear nothing more about it for a while, without
deciding it. Authorized like a decision (the approvers for the client namespace, or the war
room's once it is escalated), then one transaction holds the compare-and-set of the snooze
and its audit entry. The outbox holds the card's counter-only updates back while it lasts and
ends it when its time is up or the flow's severity rises (:func:`store.triage.end_snoozes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.card import Card
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.store import anomalies, triage
from chatbot.store.audit import record

ACTION = "snooze"


@dataclass(frozen=True, slots=True)
class SnoozeOutcome:
    snoozed: bool
    message: str


class Snoozer:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], rules: Rules,
                 directory: ApproverDirectory, clock: Clock,
                 on_snoozed: Callable[[str], None] = lambda _id: None) -> None:
        self._sessions = sessions
        self._rules = rules
        self._directory = directory
        self._clock = clock
        self._on_snoozed = on_snoozed

    async def snooze(self, *, anomaly_id: str, user_id: str,
                     duration: timedelta) -> SnoozeOutcome:
        async with self._sessions() as session:
            card = await anomalies.load_card(session, anomaly_id, rules=self._rules)
        if card is None:
            return SnoozeOutcome(False, "That anomaly is not known to this service.")
        allowed = await self._allowed(card, user_id)
        now = self._clock.now()
        until = now + duration
        async with self._sessions.begin() as session:
            if not allowed:
                result, message = "refused", (
                    f"You are not an approver for namespace `{card.client.namespace}`, so "
                    f"you cannot snooze this flow.")
            elif card.state not in OPEN_STATES:
                result, message = "stale", "This flow is decided already; nothing to snooze."
            elif await triage.set_snooze(session, anomaly_id, seen_until=card.snoozed_until,
                                         until=until, by=user_id, rank=card.severity.rank):
                result, message = "ok", (
                    f"Snoozed until <!date^{int(until.timestamp())}^{{date_short_pretty}} "
                    f"{{time}}|{until.isoformat(timespec='minutes')}>: its updates are held "
                    f"back unless its severity rises.")
            else:
                result, message = "stale", "Someone changed this snooze a moment ago."
            record(session, anomaly_id=anomaly_id, actor=user_id, action=ACTION,
                   result=result, now=now,
                   detail={"until": until.isoformat(), "severity": card.severity.value,
                           "namespace": card.client.namespace})
        if result == "ok":
            self._on_snoozed(anomaly_id)
        return SnoozeOutcome(result == "ok", message)

    async def _allowed(self, card: Card, user_id: str) -> bool:
        if await self._directory.is_approver(
                user_id, self._rules.approvers_for(card.client.namespace)):
            return True
        return card.state is State.ESCALATED and await self._directory.is_approver(
            user_id, self._rules.escalation.war_room_approvers)
