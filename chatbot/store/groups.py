"""Grouped cards' rows: attaching each new flow to its workload's open group, which group
messages are due, the post lease, and what was posted where. Part of the tables' one owner;
the caller owns the transaction.

Attaching runs from stored state after ingest (the outbox does it at the start of each pass),
so a crash at any point only delays it. A group is found by (cluster, namespace, workload,
window start) with a unique key: a replica that finds no open group inserts one with
``ON CONFLICT DO NOTHING`` and then takes the earliest open group, so replicas agree; a group
that ends up with no member (two replicas each opened one) is never posted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.card_group import MAX_ROWS, GroupCard, group_card
from chatbot.config.rules import Rules
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.store.anomalies import _stored, changed_rows
from chatbot.store.dialect import insert_for
from chatbot.store.models import Anomaly, CardGroup

_OPEN = [state.value for state in OPEN_STATES]


async def attach_new(session: AsyncSession, *, window: timedelta, rule_checked: bool,
                     limit: int = 500) -> set[str]:
    """Put every open, never-posted, ungrouped flow into its workload's open group (opening
    one when there is none); the ids of the groups that gained a row."""
    query = (select(Anomaly.id, Anomaly.cluster, Anomaly.client_namespace, Anomaly.client_name,
                    Anomaly.channel, func.coalesce(Anomaly.detected_at, Anomaly.first_seen)
                    .label("at"))
             .where(Anomaly.group_id.is_(None), Anomaly.slack_ts.is_(None),
                    Anomaly.auto_rule.is_(None), Anomaly.state.in_(_OPEN))
             .order_by(func.coalesce(Anomaly.detected_at, Anomaly.first_seen), Anomaly.id)
             .limit(limit))
    if rule_checked:  # a flow a rule may still decide gets no row before the rules spoke
        query = query.where(Anomaly.triaged_at.is_not(None))
    touched: set[str] = set()
    for row in (await session.execute(query)).all():
        at = _aware(row.at)
        group_id = await _open_group(session, row, at) or await _new_group(session, row, at,
                                                                           window)
        if await changed_rows(session, update(Anomaly).where(Anomaly.id == row.id)
                              .where(Anomaly.group_id.is_(None))
                              .values(group_id=group_id)) == 1:
            await changed_rows(session, update(CardGroup).where(CardGroup.id == group_id)
                               .values(size=CardGroup.size + 1))
            touched.add(group_id)
    return touched


async def _open_group(session: AsyncSession, row: Any, at: datetime) -> str | None:
    found = (await session.execute(
        select(CardGroup.id).where(
            CardGroup.cluster == row.cluster,
            CardGroup.client_namespace == row.client_namespace,
            CardGroup.client_name == row.client_name,
            CardGroup.window_start <= at, CardGroup.window_end > at,
            CardGroup.size < MAX_ROWS)
        .order_by(CardGroup.window_start, CardGroup.id).limit(1))).scalar()
    return None if found is None else str(found)


async def _new_group(session: AsyncSession, row: Any, at: datetime,
                     window: timedelta) -> str:
    await session.execute(insert_for(session, CardGroup).values(
        id=uuid.uuid4().hex, cluster=row.cluster,
        client_namespace=row.client_namespace,
        client_name=row.client_name,
        channel=row.channel,
        window_start=at, window_end=at + window, size=0,
        message_version=0, message_revision=0).on_conflict_do_nothing())
    found = await _open_group(session, row, at)
    if found is None:  # a full group took this start already: open right after it
        return await _new_group(session, row, at + timedelta(microseconds=1), window)
    return found


async def due(session: AsyncSession, *, now: datetime, counters_due: datetime,
              limit: int) -> list[tuple[str, str]]:
    """``(group id, channel)`` of group messages never posted (and not held), or behind
    their members: at once for a join or a state change, every so often for counters. A
    group whose every member was covered elsewhere before it went out is never posted."""
    versions = func.sum(Anomaly.version)
    uncovered = func.sum(case((Anomaly.state == State.COVERED.value, 0), else_=1))
    revisions = func.sum(Anomaly.revision)
    rows = (await session.execute(
        select(CardGroup.id, CardGroup.channel)
        .join(Anomaly, Anomaly.group_id == CardGroup.id)
        .group_by(CardGroup.id, CardGroup.channel, CardGroup.slack_ts, CardGroup.next_post_at,
                  CardGroup.message_version, CardGroup.message_revision,
                  CardGroup.message_updated_at, CardGroup.window_start)
        .having(or_(
            and_(CardGroup.slack_ts.is_(None), uncovered > 0,
                 or_(CardGroup.next_post_at.is_(None), CardGroup.next_post_at <= now)),
            and_(CardGroup.slack_ts.is_not(None), or_(
                versions != CardGroup.message_version,
                and_(revisions != CardGroup.message_revision,
                     or_(CardGroup.message_updated_at.is_(None),
                         CardGroup.message_updated_at <= counters_due))))))
        .order_by(CardGroup.window_start).limit(limit))).all()
    return [(row.id, row.channel) for row in rows]


@dataclass(frozen=True, slots=True)
class StoredGroup:
    card: GroupCard
    channel: str
    slack_channel_id: str | None
    slack_ts: str | None
    post_attempted_at: datetime | None
    versions: int
    revisions: int
    """The members' sums as read: what a message rendered from ``card`` shows."""


async def load(session: AsyncSession, group_id: str, *, rules: Rules) -> StoredGroup | None:
    group = await session.get(CardGroup, group_id, populate_existing=True)
    if group is None:
        return None
    members = list((await session.execute(
        select(Anomaly).where(Anomaly.group_id == group_id)
        .order_by(Anomaly.detected_at, Anomaly.first_seen, Anomaly.id)
        .execution_options(populate_existing=True))).scalars())
    cards = [_stored(row, rules).card for row in members]
    return StoredGroup(
        card=group_card(group_id=group.id, cluster=group.cluster,
                        namespace=group.client_namespace, workload=group.client_name,
                        cards=cards, rules=rules),
        channel=group.channel, slack_channel_id=group.slack_channel_id,
        slack_ts=group.slack_ts, post_attempted_at=group.post_attempted_at,
        versions=sum(row.version for row in members),
        revisions=sum(row.revision for row in members))


async def group_of(session: AsyncSession, anomaly_id: str) -> str | None:
    return (await session.execute(select(Anomaly.group_id)
                                  .where(Anomaly.id == anomaly_id))).scalar()


async def claim_post(session: AsyncSession, group_id: str, *, now: datetime,
                     until: datetime) -> bool:
    """Hold the unposted group message until ``until`` and note the attempt."""
    return await changed_rows(session, update(CardGroup).where(CardGroup.id == group_id)
                              .where(CardGroup.slack_ts.is_(None))
                              .where(or_(CardGroup.next_post_at.is_(None),
                                         CardGroup.next_post_at <= now))
                              .values(next_post_at=until, post_attempted_at=now)) == 1


async def record_post(session: AsyncSession, group_id: str, *, channel_id: str, ts: str,
                      versions: int, revisions: int, now: datetime) -> None:
    await changed_rows(session, update(CardGroup).where(CardGroup.id == group_id)
                       .values(slack_channel_id=channel_id, slack_ts=ts, next_post_at=None,
                               message_version=versions, message_revision=revisions,
                               message_updated_at=now))


async def record_update(session: AsyncSession, group_id: str, *, versions: int,
                        revisions: int, now: datetime) -> None:
    """The message was re-rendered from members summing to these (sums only grow)."""
    await changed_rows(session, update(CardGroup).where(CardGroup.id == group_id)
                       .where(CardGroup.message_revision < revisions)
                       .values(message_version=versions, message_revision=revisions,
                               message_updated_at=now))


async def defer_post(session: AsyncSession, group_id: str, *, until: datetime) -> None:
    await changed_rows(session, update(CardGroup).where(CardGroup.id == group_id)
                       .where(CardGroup.slack_ts.is_(None)).values(next_post_at=until))


def _aware(at: datetime) -> datetime:
    """Should a backend hand the COALESCE back naive, it is UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
