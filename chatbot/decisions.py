"""Deciding an anomaly: authorize the person, then compare-and-set the stored state.

One transaction per decision: the state change and its audit entry commit together, and
the ``version`` precondition makes a double click, two approvers at once or a replayed
request decide exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.card import Card, card_from_row
from chatbot.clock import Clock
from chatbot.config.rules import Approvers, Rules
from chatbot.lifecycle import Action, NotAllowed, State, Transition, transition
from chatbot.store.audit import record
from chatbot.store.models import Anomaly


class Verdict(StrEnum):
    DECIDED = "decided"
    REFUSED = "refused"  # the person may not decide for this namespace
    STALE = "stale"  # someone (or an earlier click) decided first
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    message: str
    card: Card | None = None


class Decider:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        rules: Rules,
        directory: ApproverDirectory,
        clock: Clock,
        on_decided: Callable[[str, State], None] = lambda _id, _state: None,
    ) -> None:
        self._sessions = sessions
        self._rules = rules
        self._directory = directory
        self._clock = clock
        self._on_decided = on_decided

    async def decide(self, *, anomaly_id: str, action: Action, user_id: str) -> Outcome:
        async with self._sessions.begin() as session:
            row = await session.get(Anomaly, anomaly_id)
            if row is None:
                return Outcome(Verdict.UNKNOWN, "That anomaly is not known to this service.")
            card = card_from_row(
                row, approvals_required=self._rules.approvals_required(row.client_namespace))
            if not await self._allowed(card, action, user_id):
                record(session, anomaly_id=anomaly_id, actor=user_id, action=action,
                       result="refused", now=self._clock.now(),
                       detail={"namespace": card.client.namespace})
                return Outcome(Verdict.REFUSED, _refusal(card, action), card)
            outcome = await self._compare_and_set(session, row, card, action, user_id)
        if outcome.verdict is Verdict.DECIDED and outcome.card is not None:
            self._on_decided(anomaly_id, outcome.card.state)
        return outcome

    async def _allowed(self, card: Card, action: Action, user_id: str) -> bool:
        if action is Action.ESCALATE and self._rules.escalation.anyone_may_escalate:
            return True
        if await self._directory.is_approver(user_id, self.approvers_for(card)):
            return True
        war_room = self._rules.escalation.war_room_approvers
        return card.state is State.ESCALATED and await self._directory.is_approver(
            user_id, war_room)

    def approvers_for(self, card: Card) -> Approvers:
        return self._rules.approvers_for(card.client.namespace)

    async def _compare_and_set(
        self, session: AsyncSession, row: Anomaly, card: Card, action: Action, user_id: str
    ) -> Outcome:
        now = self._clock.now()
        try:
            step = transition(card.state, action)
        except NotAllowed as refused:
            record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
                   result="stale", now=now, detail={"state": card.state})
            return Outcome(Verdict.STALE, _stale(card, refused), card)
        values: dict[str, object] = {"state": step.after, "version": card.version + 1,
                                     "revision": Anomaly.revision + 1}
        votes = list(row.approvals or [])
        if action is Action.APPROVE:
            needed = self._rules.approvals_required(card.client.namespace)
            if user_id in votes:
                record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
                       result="duplicate_vote", now=now, detail={"votes": votes})
                return Outcome(Verdict.STALE, f"You already approved this flow; it needs "
                               f"{needed - len(votes)} more distinct approver(s).", card)
            votes.append(user_id)
            values["approvals"] = votes
            if len(votes) < needed:
                values["state"] = card.state  # a vote, not yet a decision
                step = Transition(card.state, card.state)
        if action is Action.ESCALATE:
            values |= {"escalated_at": now, "escalation_reason": f"escalated by <@{user_id}>",
                       "escalation_trigger": "click"}
        elif step.after is not card.state:
            values |= {"decision": action, "decided_by": user_id, "decided_at": now}
        if step.after is State.APPROVED:
            values["next_apply_at"] = now
        changed = await session.execute(
            update(Anomaly).where(Anomaly.id == card.anomaly_id)
            .where(Anomaly.version == card.version).values(**values)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
                   result="stale", now=now, detail={"state": card.state})
            return Outcome(Verdict.STALE, "Someone decided this flow a moment ago.", card)
        voted = step.after is card.state
        record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
               result="vote" if voted else "ok", now=now,
               detail={"from": step.before, "to": step.after, "votes": votes})
        await session.refresh(row)
        message = (f"Approval recorded ({len(votes)} of "
                   f"{self._rules.approvals_required(card.client.namespace)})." if voted
                   else _DONE[action])
        return Outcome(Verdict.DECIDED, message, card_from_row(
            row, approvals_required=self._rules.approvals_required(row.client_namespace)))


_DONE = {Action.APPROVE: "Approved.", Action.BLOCK: "Blocked.", Action.ESCALATE: "Escalated."}


def _refusal(card: Card, action: Action) -> str:
    return (f"You are not an approver for namespace `{card.client.namespace}`, so you cannot "
            f"{action} this flow. Ask an approver, or change the approvers in the config.")


def _stale(card: Card, refused: NotAllowed) -> str:
    if card.decided_by:
        return f"Already {card.state.replace('_', ' ')} by <@{card.decided_by}>; {refused}."
    return f"Nothing to do: {refused}."
