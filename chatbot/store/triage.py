"""The anomaly row's triage bookkeeping: which flows still wait for the decision-rule check,
marking them checked, the auto decisions the daily digest has not reported yet, the
digest's claim-post-record steps, and snoozes (set, and ended when due). Part of the row's
one owner (with :mod:`chatbot.store.anomalies`); an auto decision itself is an ordinary
:func:`~chatbot.store.anomalies.compare_and_set`. The caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.card import Card
from chatbot.events.model import Severity
from chatbot.lifecycle import OPEN_STATES
from chatbot.store.anomalies import _stored, changed_rows
from chatbot.store.models import Anomaly


async def untriaged(session: AsyncSession, *, ids: Collection[str] | None = None,
                    limit: int = 200) -> list[Card]:
    """Flows the decision rules have not been asked about yet, oldest first."""
    query = (select(Anomaly).where(Anomaly.triaged_at.is_(None))
             .order_by(Anomaly.first_seen, Anomaly.id).limit(limit))
    if ids is not None:
        query = query.where(Anomaly.id.in_(list(ids)))
    return [_stored(row, None).card for row in (await session.execute(query)).scalars()]


async def mark_triaged(session: AsyncSession, anomaly_id: str, *, now: datetime) -> None:
    """No rule decides this flow: its card may be posted."""
    await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                       .where(Anomaly.triaged_at.is_(None)).values(triaged_at=now))


@dataclass(frozen=True, slots=True)
class DigestLine:
    card: Card
    rule: str


@dataclass(frozen=True, slots=True)
class DigestBatch:
    """One digest message: its key (the post's metadata, for reconciliation) and lines."""

    key: str
    channel: str
    lines: list[DigestLine]
    claimed_before: bool
    """Claimed by an earlier pass that may have posted it before a crash: look first."""


async def claim_digests(session: AsyncSession, *, due_before: datetime,
                        limit: int = 500) -> list[DigestBatch]:
    """Give every channel whose oldest unreported auto decision is older than ``due_before``
    one digest key for all its unreported ones, and return those batches plus any batch an
    earlier pass claimed but never recorded as posted."""
    rows = list((await session.execute(
        select(Anomaly).where(Anomaly.auto_rule.is_not(None))
        .where(Anomaly.digested_at.is_(None))
        .order_by(Anomaly.decided_at, Anomaly.id).limit(limit))).scalars())
    by_channel: dict[str, list[Anomaly]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel].append(row)
    batches: dict[str, DigestBatch] = {}
    for channel, channel_rows in by_channel.items():
        fresh = [row for row in channel_rows if row.digest_key is None]
        oldest = min((row.decided_at for row in fresh if row.decided_at), default=None)
        if fresh and oldest is not None and oldest <= due_before:
            key = uuid.uuid4().hex
            await changed_rows(session, update(Anomaly)
                               .where(Anomaly.id.in_([row.id for row in fresh]))
                               .where(Anomaly.digest_key.is_(None)).values(digest_key=key))
            for row in fresh:
                row.digest_key = key
        for row in channel_rows:
            if row.digest_key is None:
                continue
            batch = batches.get(row.digest_key)
            if batch is None:
                batch = batches[row.digest_key] = DigestBatch(
                    key=row.digest_key, channel=channel, lines=[],
                    claimed_before=row not in fresh)
            batch.lines.append(DigestLine(_stored(row, None).card, row.auto_rule or ""))
    return list(batches.values())


async def record_digest(session: AsyncSession, key: str, *, now: datetime) -> None:
    await changed_rows(session, update(Anomaly).where(Anomaly.digest_key == key)
                       .values(digested_at=now))


_RANK = case({s.value: s.rank for s in Severity}, value=Anomaly.severity, else_=0)


async def set_snooze(session: AsyncSession, anomaly_id: str, *, seen_until: datetime | None,
                     until: datetime, by: str, rank: int) -> bool:
    """Snooze an open flow until ``until`` at severity ``rank``, if its snooze is still the
    one the caller read (two clicks at once snooze once). A snooze is not a decision: it
    leaves ``version`` alone, so an approval racing it still lands. The card must show the
    snooze although snoozed cards hold counter updates back, so the message is marked as
    behind on state (``message_version`` 0: re-rendered at once, like a decision)."""
    seen = (Anomaly.snoozed_until.is_(None) if seen_until is None
            else Anomaly.snoozed_until == seen_until)
    return await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                              .where(Anomaly.state.in_([s.value for s in OPEN_STATES]))
                              .where(seen)
                              .values(snoozed_until=until, snoozed_by=by, snoozed_rank=rank,
                                      revision=Anomaly.revision + 1, message_version=0)) == 1


@dataclass(frozen=True, slots=True)
class EndedSnooze:
    anomaly_id: str
    why: str  # "expired", "severity_rose" or "decided"


async def end_snoozes(session: AsyncSession, *, now: datetime,
                      limit: int = 500) -> list[EndedSnooze]:
    """Clear every snooze that is over — its time is up, the flow's severity rose above the
    snoozed one, or the flow is no longer open — so its card shows everything again."""
    rows = (await session.execute(
        select(Anomaly.id, Anomaly.snoozed_until, Anomaly.state,
               (Anomaly.snoozed_rank < _RANK).label("rose"))
        .where(Anomaly.snoozed_until.is_not(None))
        .where(or_(Anomaly.snoozed_until <= now, Anomaly.snoozed_rank < _RANK,
                   Anomaly.state.not_in([s.value for s in OPEN_STATES])))
        .limit(limit))).all()
    ended: list[EndedSnooze] = []
    for row in rows:
        if await changed_rows(session, update(Anomaly).where(and_(
                Anomaly.id == row.id, Anomaly.snoozed_until == row.snoozed_until))
                .values(snoozed_until=None, snoozed_by=None, snoozed_rank=None,
                        revision=Anomaly.revision + 1, message_version=0)):
            why = ("severity_rose" if row.rose else
                   "expired" if row.state in {s.value for s in OPEN_STATES} else "decided")
            ended.append(EndedSnooze(row.id, why))
    return ended
