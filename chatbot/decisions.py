"""Deciding an anomaly: authorize the person, then compare-and-set the stored state.

The card is read in a short session and the person authorized with no session open (a
user-group lookup may ask Slack); then one transaction holds the state change and its audit
entry. The ``version`` precondition makes a double click, two approvers at once or a
replayed request decide exactly once, and a change made between the read and the write
turns the click into a "someone was first" answer instead of a lost update.

A decision the risk rules want justified is not taken without the person's words: the answer
is then ``NEEDS_JUSTIFICATION`` (Slack opens a modal, the review page a text field) and the
text comes back with the second call, to be stored with the decision and audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.card import Card, clean_justification, justification_required
from chatbot.clock import Clock
from chatbot.config.rules import Approvers, Rules
from chatbot.lifecycle import Action, NotAllowed, State, cast_vote, transition
from chatbot.store import anomalies
from chatbot.store.anomalies import Changes
from chatbot.store.audit import record


class Verdict(StrEnum):
    DECIDED = "decided"
    REFUSED = "refused"  # the person may not decide for this namespace
    STALE = "stale"  # someone (or an earlier click) decided first
    UNKNOWN = "unknown"
    NEEDS_JUSTIFICATION = "needs_justification"  # ask the person why, then decide


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

    @property
    def rules(self) -> Rules:
        return self._rules

    async def decide(self, *, anomaly_id: str, action: Action, user_id: str,
                     justification: str | None = None) -> Outcome:
        async with self._sessions() as session:
            card = await anomalies.load_card(session, anomaly_id, rules=self._rules)
        if card is None:
            return Outcome(Verdict.UNKNOWN, "That anomaly is not known to this service.")
        refused = await self._refused(card, action, user_id)
        why = clean_justification(justification)
        if refused is None and why is None and justification_required(card, action) \
                and user_id not in card.approvals:
            return Outcome(Verdict.NEEDS_JUSTIFICATION, JUSTIFY_PROMPT, card)
        async with self._sessions.begin() as session:
            if refused is not None:
                record(session, anomaly_id=anomaly_id, actor=user_id, action=action,
                       result="refused", now=self._clock.now(),
                       detail={"namespace": card.client.namespace, "why": refused,
                               "state": card.state})
                return Outcome(Verdict.REFUSED, _REFUSALS[refused](card, action), card)
            outcome = await self._compare_and_set(session, card, action, user_id, why)
        if outcome.verdict is Verdict.DECIDED and outcome.card is not None:
            self._on_decided(anomaly_id, outcome.card.state)
        return outcome

    async def _refused(self, card: Card, action: Action, user_id: str) -> str | None:
        """Why the person may not do this (a key of ``_REFUSALS``); None when they may.

        An escalated flow is decided by the war-room approvers; the namespace's own
        approvers keep a say only when the rules do not hand the decision over."""
        if action is Action.ESCALATE and self._rules.escalation.anyone_may_escalate:
            return None
        deciding_escalated = card.state is State.ESCALATED and action is not Action.ESCALATE
        if deciding_escalated and await self._directory.is_approver(
                user_id, self._rules.escalation.war_room_approvers):
            return None
        if deciding_escalated and self._rules.war_room_decides:
            return HANDED_TO_WAR_ROOM
        if await self._directory.is_approver(user_id, self.approvers_for(card)):
            return None
        # Whoever could decide an escalated flow may also revoke what that decision opened.
        if action is Action.REVOKE and card.escalated_at is not None and \
                await self._directory.is_approver(user_id,
                                                  self._rules.escalation.war_room_approvers):
            return None
        return NOT_APPROVER

    def approvers_for(self, card: Card) -> Approvers:
        return self._rules.approvers_for(card.client.namespace)

    async def _compare_and_set(
        self, session: AsyncSession, card: Card, action: Action, user_id: str,
        why: str | None = None,
    ) -> Outcome:
        now = self._clock.now()
        try:
            step = transition(card.state, action)
        except NotAllowed as refused:
            record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
                   result="stale", now=now, detail={"state": card.state})
            return Outcome(Verdict.STALE, _stale(card, refused), card)
        changes: Changes = {"state": step.after}
        result = "ok"
        if action is Action.APPROVE:
            ballot = cast_vote(card.approvals, user_id, needed=card.approvals_required)
            if ballot.duplicate:
                record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
                       result="duplicate_vote", now=now, detail={"votes": list(ballot.votes)})
                return Outcome(Verdict.STALE, f"You already approved this flow; it needs "
                               f"{ballot.missing} more distinct approver(s).", card)
            changes["approvals"] = list(ballot.votes)
            if not ballot.complete:
                changes["state"] = card.state  # a vote, not yet a decision
                result = "vote"
        if why is not None:
            changes["justifications"] = with_justification(card, user_id, action, why)
        if action is Action.ESCALATE:
            changes |= {"escalated_at": now, "escalated_by": user_id,
                        "escalation_reason": None, "escalation_trigger": "click"}
        elif action is Action.REVOKE:
            changes |= revoke_changes(user_id, now)
        elif changes["state"] is not card.state:
            changes |= {"decision": action, "decided_by": user_id, "decided_at": now}
        if changes["state"] is State.APPROVED:
            changes["next_apply_at"] = now
        if not await anomalies.compare_and_set(session, card.anomaly_id, version=card.version,
                                               changes=changes):
            record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
                   result="stale", now=now, detail={"state": card.state})
            return Outcome(Verdict.STALE, "Someone decided this flow a moment ago.", card)
        detail = {"from": step.before, "to": changes["state"],
                  "votes": changes.get("approvals", list(card.approvals))}
        if why is not None:
            detail["justification"] = why
        record(session, anomaly_id=card.anomaly_id, actor=user_id, action=action,
               result=result, now=now, detail=detail)
        decided = await anomalies.load_card(session, card.anomaly_id, rules=self._rules)
        message = (f"Approval recorded ({len(changes['approvals'])} of "
                   f"{card.approvals_required})." if result == "vote" else _DONE[action])
        return Outcome(Verdict.DECIDED, message, decided)


_DONE = {Action.APPROVE: "Approved.", Action.BLOCK: "Blocked.", Action.ESCALATE: "Escalated.",
         Action.REVOKE: "Revoked: the target this approval added is being removed."}
JUSTIFY_PROMPT = "The risk rules ask for a justification before this flow is approved."


def revoke_changes(actor: str, now: datetime) -> Changes:
    """What a revoke stores: who and when, and the removal due at once (the applier's job)."""
    return {"revoked_by": actor, "revoked_at": now, "next_apply_at": now, "apply_attempts": 0,
            "apply_error": None, "revoke_result": None}


def with_justification(card: Card, user_id: str, action: Action,
                       text: str) -> list[dict[str, str]]:
    return [*({"by": j.by, "action": j.action, "text": j.text} for j in card.justifications),
            {"by": user_id, "action": action.value, "text": text}]


NOT_APPROVER, HANDED_TO_WAR_ROOM = "not an approver", "escalated"


def _not_approver(card: Card, action: Action) -> str:
    return (f"You are not an approver for namespace `{card.client.namespace}`, so you cannot "
            f"{action} this flow. Ask an approver, or change the approvers in the config.")


def _escalated(card: Card, action: Action) -> str:
    return (f"This flow was escalated, so the war-room approvers decide it now: your "
            f"{action} was not recorded. Say what you know in the war room.")


_REFUSALS: dict[str, Callable[[Card, Action], str]] = {NOT_APPROVER: _not_approver,
                                                        HANDED_TO_WAR_ROOM: _escalated}


def _stale(card: Card, refused: NotAllowed) -> str:
    if card.state is State.COVERED:
        return (f"Nothing to do: ClientIntents `{card.covered_by}` now covers this flow; no "
                "decision needed.")
    if card.decided_by:
        return f"Already {card.state.replace('_', ' ')} by <@{card.decided_by}>; {refused}."
    return f"Nothing to do: {refused}."
