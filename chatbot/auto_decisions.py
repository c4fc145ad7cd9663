"""Auto decisions: the decision rules applied to each new flow, from stored state, right after
ingest — not in the consumer's hot path.

The pipeline's hint names the new flows; a timer also re-reads every flow whose rule check
is still outstanding, so a crash between ingest and the check only delays it. A flow a rule
decides is compare-and-set to ``approved`` or ``blocked`` with its ``auto_rule`` in the same
transaction that marks it checked, and audited as actor ``system`` with the rule's name: the
outbox never posts a card for it (it posts none before the check either), the applier writes
the approval as it writes any other, and the daily digest reports it. Every other flow is
just marked checked, and its card follows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card
from chatbot.clock import Clock
from chatbot.config.decision_rules import RuleAction
from chatbot.config.rules import Rules
from chatbot.decision_rules import Ruling, ruling
from chatbot.lifecycle import State
from chatbot.store import anomalies, triage
from chatbot.store.anomalies import Changes
from chatbot.store.audit import record
from chatbot.waiting import nap

log = logging.getLogger(__name__)

SYSTEM = "system"
_OUTCOME = {RuleAction.AUTO_APPROVE: (State.APPROVED, "approve"),
            RuleAction.AUTO_BLOCK: (State.BLOCKED, "block")}


class AutoDecider:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], rules: Rules,
                 clock: Clock, scan_seconds: float = 5.0,
                 on_checked: Callable[[str, State | None], None] = lambda _id, _state: None,
                 ) -> None:
        """``on_checked(id, state)``: the rules were asked; ``state`` is the new state when a
        rule decided, None when the flow waits for a person (its card may go out now)."""
        self._sessions = sessions
        self._rules = rules
        self._clock = clock
        self._scan_seconds = scan_seconds
        self._on_checked = on_checked
        self._hints: set[str] = set()
        self._wake = asyncio.Event()

    def hint(self, anomaly_ids: Iterable[str]) -> None:
        self._hints.update(anomaly_ids)
        if self._hints:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        next_scan = 0.0
        while not stop.is_set():
            try:
                if self._hints:
                    hinted, self._hints = self._hints, set()
                    await self.check(hinted)
                if self._clock.monotonic() >= next_scan:
                    next_scan = self._clock.monotonic() + self._scan_seconds
                    while await self.check(None) >= 200:
                        pass  # a backlog (a restart after a flood): keep going
            except Exception:  # a DB outage must not end the loop; the scan catches up
                log.exception("decision-rule check failed; retrying")
            self._wake.clear()
            await nap(self._wake, stop, seconds=self._scan_seconds)

    async def check(self, anomaly_ids: set[str] | None) -> int:
        """Ask the rules about the unchecked flows among ``anomaly_ids`` (None: all)."""
        async with self._sessions() as session:
            cards = await triage.untriaged(session, ids=anomaly_ids)
        for card in cards:
            decided = ruling(card, self._rules)
            state = await self._apply(card, decided)
            self._on_checked(card.anomaly_id, state)
        return len(cards)

    async def _apply(self, card: Card, decided: Ruling) -> State | None:
        now = self._clock.now()
        outcome = _OUTCOME.get(decided.action)
        async with self._sessions.begin() as session:
            if outcome is not None and decided.rule is not None and card.state is State.PENDING:
                state, action = outcome
                changes: Changes = {"state": state, "decision": action, "decided_by": SYSTEM,
                                    "decided_at": now, "auto_rule": decided.rule.name,
                                    "triaged_at": now}
                if state is State.APPROVED:
                    changes["next_apply_at"] = now
                if await anomalies.compare_and_set(session, card.anomaly_id,
                                                   version=card.version, changes=changes):
                    record(session, anomaly_id=card.anomaly_id, actor=SYSTEM, action=action,
                           result="ok", now=now,
                           detail={"rule": decided.rule.name, "why": decided.why,
                                   "from": card.state.value, "to": state.value})
                    log.info("%s by rule %s", action, decided.rule.name,
                             extra={"anomaly_id": card.anomaly_id})
                    return state
                # someone (the escalator) changed it first: a person decides after all
            await triage.mark_triaged(session, card.anomaly_id, now=now)
            if decided.rule is not None:
                record(session, anomaly_id=card.anomaly_id, actor=SYSTEM, action="triage",
                       result="require_approval", now=now,
                       detail={"rule": decided.rule.name, "why": decided.why})
        return None
