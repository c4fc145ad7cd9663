"""The pending queue one person may decide: open flows, oldest first, optionally narrowed to
a namespace or workload, and paged. What ``/flows`` (and an App Home tab) show.

Authorization is the decider's own rule (the approvers for the client namespace), so the
list never offers a flow whose buttons would refuse the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.card import Card
from chatbot.config.rules import Rules
from chatbot.lifecycle import OPEN_STATES
from chatbot.store import anomalies

PAGE_SIZE = 10


@dataclass(frozen=True, slots=True)
class Page:
    cards: list[Card]
    offset: int
    total: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.cards)
        return end if end < self.total else None


class PendingQueue:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], rules: Rules,
                 directory: ApproverDirectory) -> None:
        self._sessions = sessions
        self._rules = rules
        self._directory = directory

    async def page(self, *, user_id: str, query: str = "", offset: int = 0,
                   size: int = PAGE_SIZE) -> Page:
        """``query`` matches the client namespace or workload (a glob, or a plain word)."""
        async with self._sessions() as session:
            cards = await anomalies.cards(session, states=OPEN_STATES, rules=self._rules)
        cards.sort(key=lambda card: (card.first_seen, card.anomaly_id))  # oldest first
        mine = [card for card in cards if _matches(card, query)
                and await self._directory.is_approver(
                    user_id, self._rules.approvers_for(card.client.namespace))]
        offset = max(0, min(offset, len(mine)))
        return Page(cards=mine[offset:offset + size], offset=offset, total=len(mine))


def _matches(card: Card, query: str) -> bool:
    if not query:
        return True
    pattern = query if any(c in query for c in "*?[") else f"*{query}*"
    return any(fnmatchcase(value, pattern) for value in (
        card.client.namespace, card.client.name, f"{card.client.namespace}/{card.client.name}"))
