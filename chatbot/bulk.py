""""Approve all I may decide" on a grouped card: the normal :class:`~chatbot.decisions.Decider`
once per benign pending flow of the group, so each approval is authorized, compare-and-set
and audited exactly as a click on its own button would be.

Flows the risk rules flag, or that need a quorum, are never swept
(:attr:`chatbot.card_group.GroupRow.sweepable`): they stay pending with their own buttons.
A group is one namespace, so the first refusal (the person may not decide there) ends the
sweep — it changes nothing and the person is told why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.config.rules import Rules
from chatbot.decisions import Decider, Verdict
from chatbot.lifecycle import Action
from chatbot.store import groups


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    approved: int
    left: int
    """Open flows of the group left for their own decision (risky, quorum, or refused)."""
    refused: bool
    message: str


class BulkDecider:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], rules: Rules,
                 decider: Decider) -> None:
        self._sessions = sessions
        self._rules = rules
        self._decider = decider

    async def approve_all(self, *, group_id: str, user_id: str) -> BulkOutcome:
        async with self._sessions() as session:
            stored = await groups.load(session, group_id, rules=self._rules)
        if stored is None:
            return BulkOutcome(0, 0, False, "That group is not known to this service.")
        group = stored.card
        approved = 0
        for card in group.sweepable:
            outcome = await self._decider.decide(anomaly_id=card.anomaly_id,
                                                 action=Action.APPROVE, user_id=user_id)
            if outcome.verdict is Verdict.REFUSED:
                return BulkOutcome(approved, group.pending - approved, True, outcome.message)
            if outcome.verdict is Verdict.DECIDED:
                approved += 1
        left = group.pending - approved
        message = f"Approved {approved} flow(s) of {group.namespace}/{group.workload}."
        if left:
            message += (f" {left} flow(s) need their own decision (risky, a quorum, or "
                        "decided meanwhile): use their buttons on the card.")
        return BulkOutcome(approved, left, False, message)
