"""A grouped card as people see it: one client workload's new flows that arrived inside the
grouping window, each a row with its own buttons, and which of them "Approve all I may
decide" may sweep. Pure: the store builds it from rows, Slack renders it
(:mod:`chatbot.slack.group_blocks`), the bulk decision reads it (:mod:`chatbot.bulk`).

A flow the risk rules flag (:func:`chatbot.decision_rules.risks_of` — it also flags a
namespace that needs a quorum) is never swept: it needs its own, deliberate click.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.card import Card
from chatbot.config.rules import Rules
from chatbot.decision_rules import risks_of
from chatbot.lifecycle import Action, State

MAX_ROWS = 20
"""Flows per group: two blocks a row must fit Slack's 50 blocks with the summary; a fuller
workload opens another group."""


@dataclass(frozen=True, slots=True)
class GroupRow:
    card: Card
    risks: tuple[str, ...]

    @property
    def sweepable(self) -> bool:
        """May "Approve all" decide this flow? Only a pending, benign one-approver flow."""
        return (self.card.state is State.PENDING and not self.risks
                and self.card.approvals_required <= 1 and Action.APPROVE in self.card.actions)


@dataclass(frozen=True, slots=True)
class GroupCard:
    group_id: str
    cluster: str
    namespace: str
    workload: str
    rows: tuple[GroupRow, ...]

    @property
    def sweepable(self) -> list[Card]:
        return [row.card for row in self.rows if row.sweepable]

    @property
    def pending(self) -> int:
        return sum(1 for row in self.rows if row.card.state in (State.PENDING,
                                                                 State.ESCALATED))


def group_card(*, group_id: str, cluster: str, namespace: str, workload: str,
               cards: list[Card], rules: Rules) -> GroupCard:
    rows = tuple(GroupRow(card, tuple(risks_of(card, rules))) for card in cards)
    return GroupCard(group_id=group_id, cluster=cluster, namespace=namespace,
                     workload=workload, rows=rows)
