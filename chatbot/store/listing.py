"""The review page's list of anomalies: filtered by client namespace, severity and state,
in the same order as :func:`chatbot.store.anomalies.cards` (most severe first, then by
appearance), one page at a time with the number of matches, so a long history is paged
rather than cut. Part of the anomaly row's one owner; the caller owns the session.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.card import Card
from chatbot.config.rules import Rules
from chatbot.events.model import Severity
from chatbot.lifecycle import State
from chatbot.store.anomalies import _SEVERITY_ORDER, _stored, with_related
from chatbot.store.models import Anomaly


@dataclass(frozen=True, slots=True)
class Filter:
    """Empty fields match everything."""

    namespace: str | None = None
    severities: Collection[Severity] = ()
    states: Collection[State] = ()


@dataclass(frozen=True, slots=True)
class Listing:
    cards: list[Card]
    matching: int
    """How many anomalies match the filter, on every page."""


async def page(session: AsyncSession, *, where: Filter, offset: int, limit: int,
               rules: Rules | None = None) -> Listing:
    rows = (await session.execute(
        select(Anomaly).where(*_conditions(where))
        .order_by(_SEVERITY_ORDER, Anomaly.first_seen, Anomaly.id)
        .offset(offset).limit(limit))).scalars().all()
    matching = (await session.execute(
        select(func.count()).select_from(Anomaly).where(*_conditions(where)))).scalar_one()
    return Listing(cards=with_related([_stored(row, rules).card for row in rows]),
                   matching=int(matching))


async def namespaces(session: AsyncSession) -> list[str]:
    """Every client namespace that has an anomaly, for the page's filter."""
    return list((await session.execute(
        select(Anomaly.client_namespace).distinct().order_by(Anomaly.client_namespace)))
        .scalars())


def _conditions(where: Filter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.namespace:
        conditions.append(Anomaly.client_namespace == where.namespace)
    if where.severities:
        conditions.append(Anomaly.severity.in_([s.value for s in where.severities]))
    if where.states:
        conditions.append(Anomaly.state.in_([State(s).value for s in where.states]))
    return conditions
