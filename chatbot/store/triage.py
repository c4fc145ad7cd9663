"""The anomaly row's triage bookkeeping: which flows still wait for the decision-rule check,
marking them checked, the auto decisions the daily digest has not reported yet, and the
digest's claim-post-record steps. Part of the row's one owner (with
:mod:`chatbot.store.anomalies`); an auto decision itself is an ordinary
:func:`~chatbot.store.anomalies.compare_and_set`. The caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.card import Card
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
