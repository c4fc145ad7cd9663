"""Kafka progress, stored with the results: per consumer group and partition, the next offset
to read. The pipeline moves it in the same transaction as the batch it covers, so a batch
is stored exactly when its offsets move — a redelivery after a crash or a rebalance is below
the stored offset and skipped, with no row per event (Kafka's "storing offsets outside
Kafka"). The only owner of ``consumer_offsets``.

Moving is a compare-and-set on the offset the mover last saw: a member that lost its
partition without noticing (paused past the session timeout) cannot store a batch that the
new owner stores too — whichever commits second gets :class:`OffsetConflict` and rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast as typed

from sqlalchemy import Table, and_, bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.store.dialect import insert_for
from chatbot.store.models import ConsumerOffset

OFFSETS = typed(Table, ConsumerOffset.__table__)
Key = tuple[str, int]  # (topic, partition)


class OffsetConflict(Exception):
    """Another member moved one of the batch's partitions first; nothing was stored."""


@dataclass(frozen=True, slots=True)
class Move:
    topic: str
    partition: int
    seen: int | None  # the stored next offset this member read or wrote last; None: no row
    next_offset: int
    events: int  # valid events of the batch stored from this partition


_WHERE = and_(OFFSETS.c.consumer_group == bindparam("g"), OFFSETS.c.topic == bindparam("t"),
              OFFSETS.c.kafka_partition == bindparam("p"))
_ADVANCE = (update(OFFSETS).where(_WHERE, OFFSETS.c.next_offset == bindparam("seen"))
            .values(next_offset=bindparam("n"),
                    events_stored=OFFSETS.c.events_stored + bindparam("e"),
                    updated_at=bindparam("at")))


async def stored_offsets(session: AsyncSession, *, group: str, partitions: Iterable[Key]
                         ) -> dict[Key, int]:
    """The stored next offset of each partition that has one."""
    keys = sorted(set(partitions))
    if not keys:
        return {}
    rows = await session.execute(
        select(OFFSETS.c.topic, OFFSETS.c.kafka_partition, OFFSETS.c.next_offset)
        .where(OFFSETS.c.consumer_group == group,
               tuple_(OFFSETS.c.topic, OFFSETS.c.kafka_partition).in_(keys)))
    return {(topic, partition): offset for topic, partition, offset in rows}


async def move(session: AsyncSession, *, group: str, moves: Sequence[Move], now: datetime
               ) -> None:
    """Compare-and-set every partition of a batch, in a fixed order (rows are locked in the
    same order by every replica, so two cannot deadlock); raise OffsetConflict if any had
    moved. Call first in the batch's transaction, and let the conflict roll it back."""
    connection = await session.connection()
    for step in sorted(moves, key=lambda m: (m.topic, m.partition)):
        where = {"g": group, "t": step.topic, "p": step.partition}
        if step.seen is None:
            created = await connection.execute(
                insert_for(session, OFFSETS).values(
                    consumer_group=group, topic=step.topic, kafka_partition=step.partition,
                    next_offset=step.next_offset, events_stored=step.events, updated_at=now)
                .on_conflict_do_nothing(index_elements=["consumer_group", "topic",
                                                        "kafka_partition"])
                .returning(OFFSETS.c.kafka_partition))
            moved = created.first() is not None
        else:
            advanced = await connection.execute(
                _ADVANCE, {**where, "seen": step.seen, "n": step.next_offset, "e": step.events,
                           "at": now})
            moved = advanced.rowcount == 1
        if not moved:
            raise OffsetConflict(f"{step.topic}/{step.partition} was moved by another member "
                                 f"(this one last saw {step.seen})")


async def events_stored(session: AsyncSession, *, group: str | None = None) -> int:
    """Valid events stored from every partition (of one group, if given)."""
    query = select(func.coalesce(func.sum(OFFSETS.c.events_stored), 0))
    if group is not None:
        query = query.where(OFFSETS.c.consumer_group == group)
    return int((await session.execute(query)).scalar_one())
