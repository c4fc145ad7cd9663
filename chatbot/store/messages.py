"""The anomaly row's message bookkeeping: which cards and war-room posts are due, the short
leases that keep two replicas from posting the same one, and what was posted where.

Part of the row's one owner (with :mod:`chatbot.store.anomalies`); nothing here changes
what a person decided, so nothing here bumps ``version`` or ``revision``. The caller owns the
transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, false, not_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.events.model import Severity
from chatbot.lifecycle import State
from chatbot.store.anomalies import changed_rows
from chatbot.store.models import Anomaly

SEVERITY_RANK = case({s.value: s.rank for s in Severity}, value=Anomaly.severity, else_=0)
_NOT_COVERED = Anomaly.state != State.COVERED.value


async def due_cards(session: AsyncSession, *, now: datetime, counters_due: datetime,
                    limit: int, rule_checked: bool = False,
                    grouping: bool = False) -> list[tuple[str, str]]:
    """``(anomaly id, channel)`` of cards never posted (and not held), or whose message lags
    the row: at once for a state change, at most every so often for counters alone (those
    last rendered before ``counters_due``, and not while the flow is snoozed at its severity).

    A flow a decision rule decided never gets a card; with ``rule_checked`` (decision rules
    are configured) a card also waits until the rules were asked. A flow in a group is a row
    of the group's message, never a card of its own; with ``grouping`` on every new flow
    goes into a group (:mod:`chatbot.store.groups`), so none is posted alone. A flow an
    intent written elsewhere covered before its card went out needs no card either."""
    unposted = and_(Anomaly.slack_ts.is_(None), Anomaly.auto_rule.is_(None), _NOT_COVERED,
                    Anomaly.group_id.is_(None), false() if grouping else true(),
                    or_(Anomaly.next_post_at.is_(None), Anomaly.next_post_at <= now))
    if rule_checked:
        unposted = and_(unposted, Anomaly.triaged_at.is_not(None))
    snoozed = and_(Anomaly.snoozed_until.is_not(None), Anomaly.snoozed_until > now,
                   Anomaly.snoozed_rank >= SEVERITY_RANK)
    rows = (await session.execute(
        select(Anomaly.id, Anomaly.channel)
        .where(or_(
            unposted,
            and_(Anomaly.slack_ts.is_not(None),
                 Anomaly.message_revision < Anomaly.revision,
                 or_(Anomaly.message_version < Anomaly.version,
                     and_(not_(snoozed),
                          or_(Anomaly.message_updated_at.is_(None),
                              Anomaly.message_updated_at <= counters_due)))),
        ))
        .order_by(Anomaly.first_seen).limit(limit))).all()
    return [(row.id, row.channel) for row in rows]


async def due_war_room(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    """Escalated anomalies whose war-room message is unposted (and not held, and not covered
    elsewhere meanwhile), behind, or still without the link to an original card that has
    been posted since (and not held)."""
    not_held = or_(Anomaly.war_room_next_at.is_(None), Anomaly.war_room_next_at <= now)
    return list((await session.execute(
        select(Anomaly.id).where(Anomaly.escalated_at.is_not(None)).where(or_(
            and_(Anomaly.war_room_ts.is_(None), not_held, _NOT_COVERED),
            and_(Anomaly.war_room_ts.is_not(None),
                 Anomaly.war_room_revision < Anomaly.version),
            and_(Anomaly.war_room_ts.is_not(None), Anomaly.war_room_link.is_(None),
                 Anomaly.slack_ts.is_not(None), not_held)))
        .order_by(Anomaly.escalated_at).limit(limit))).scalars())


async def claim_post(session: AsyncSession, anomaly_id: str, *, now: datetime,
                     until: datetime) -> bool:
    """Hold the unposted card until ``until`` and note the attempt (for reconciliation)."""
    return await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                              .where(Anomaly.slack_ts.is_(None))
                              .where(Anomaly.auto_rule.is_(None))  # decided by a rule
                              .where(_NOT_COVERED)  # needs nobody any more
                              .where(Anomaly.group_id.is_(None))  # a row of a group card
                              .where(or_(Anomaly.next_post_at.is_(None),
                                         Anomaly.next_post_at <= now))
                              .values(next_post_at=until, post_attempted_at=now,
                                      post_attempts=Anomaly.post_attempts + 1)) == 1


async def record_post(session: AsyncSession, anomaly_id: str, *, channel_id: str, ts: str,
                      revision: int, version: int, now: datetime) -> None:
    """The card is in ``channel_id`` at ``ts`` and shows the row as of ``revision``."""
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .values(slack_channel_id=channel_id, slack_ts=ts, next_post_at=None,
                               message_revision=revision, message_version=version,
                               message_updated_at=now))


async def record_update(session: AsyncSession, anomaly_id: str, *, revision: int,
                        version: int, now: datetime) -> None:
    """The card was re-rendered as of ``revision`` (never moves the mark backwards)."""
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .where(Anomaly.message_revision < revision)
                       .values(message_revision=revision, message_version=version,
                               message_updated_at=now))


async def defer_post(session: AsyncSession, anomaly_id: str, *, until: datetime) -> None:
    """Try the unposted card again at ``until`` (also releases its post lease)."""
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .where(Anomaly.slack_ts.is_(None)).values(next_post_at=until))


async def claim_war_room(session: AsyncSession, anomaly_id: str, *, now: datetime,
                         until: datetime) -> bool:
    return await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                              .where(Anomaly.war_room_ts.is_(None)).where(_NOT_COVERED)
                              .where(or_(Anomaly.war_room_next_at.is_(None),
                                         Anomaly.war_room_next_at <= now))
                              .values(war_room_next_at=until, war_room_attempted_at=now)) == 1


async def record_war_room_post(session: AsyncSession, anomaly_id: str, *, channel_id: str,
                               ts: str, version: int) -> None:
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .values(war_room_channel_id=channel_id, war_room_ts=ts,
                               war_room_next_at=None, war_room_revision=version))


async def record_war_room_update(session: AsyncSession, anomaly_id: str, *,
                                 version: int) -> None:
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .where(Anomaly.war_room_revision < version)
                       .values(war_room_revision=version))


async def record_war_room_link(session: AsyncSession, anomaly_id: str, *, link: str) -> None:
    """The war-room message now shows ``link`` to the original card (and keeps showing it:
    later re-renders reuse it rather than asking Slack again)."""
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .values(war_room_link=link, war_room_next_at=None))


async def hold_war_room_link(session: AsyncSession, anomaly_id: str, *,
                             until: datetime) -> None:
    """Slack gave no link to the posted original card: ask again at ``until``."""
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .where(Anomaly.war_room_ts.is_not(None))
                       .values(war_room_next_at=until))


async def defer_war_room(session: AsyncSession, anomaly_id: str, *, until: datetime) -> None:
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .where(Anomaly.war_room_ts.is_(None)).values(war_room_next_at=until))


async def record_incident_channel(session: AsyncSession, anomaly_id: str, *,
                                  channel_id: str) -> None:
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .values(incident_channel_id=channel_id))
