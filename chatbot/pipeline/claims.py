"""The partitions this member owns and where each one stands: the next offset stored in the
database, the records below it that only rebuild the window of recent event ids, and that
window. Claimed on assignment — the rebalance listener seeks each partition to where its
window starts, or, with nothing stored yet, to the group's offset committed in Kafka — and
dropped on revocation once the in-flight batch is stored.

aiokafka may fetch a newly assigned partition while the listener is still reading the
database, so every claim is numbered: a batch fetched before the claim of one of its
partitions carries records from the old position, which the consumer must not store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Protocol

from aiokafka import ConsumerRebalanceListener
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.pipeline.recent import BLOCK, RecentIds
from chatbot.store.offsets import stored_offsets


class Partition(Protocol):
    """An aiokafka ``TopicPartition``; the same objects go back into ``commit``/``seek``."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...


class Seeker(Protocol):
    """The positioning part of ``AIOKafkaConsumer``."""

    def seek(self, partition: Partition, offset: int) -> None: ...
    async def seek_to_beginning(self, *partitions: Partition) -> object: ...
    async def committed(self, partition: Partition) -> int | None: ...
    def assignment(self) -> Set[Partition]: ...


@dataclass
class Claim:
    stored: int | None  # the next offset stored in the database; None: nothing stored yet
    resume: int  # records below this are stored already: they only feed `recent`
    recent: RecentIds
    number: int  # which claim this is (Claims.made when it was made)


class Claims(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Both callbacks take the batch lock: revocation waits until a batch being stored is
    stored (offsets and all) before its partitions go to another member, which then resumes
    after it; assignment never claims in the middle of a batch."""

    def __init__(self, *, consumer: Seeker, sessions: async_sessionmaker[AsyncSession],
                 group: str, batch_lock: asyncio.Lock, logger: logging.Logger,
                 block: int = BLOCK) -> None:
        self.owned: dict[Partition, Claim] = {}
        self.unclaimed: set[Partition] = set()  # assigned, but the database did not answer
        self.made = 0
        self._consumer = consumer
        self._sessions = sessions
        self._group = group
        self._batch_lock = batch_lock
        self._log = logger
        self._block = block

    async def on_partitions_revoked(self, revoked: Iterable[Partition]) -> None:
        async with self._batch_lock:
            for tp in revoked:
                self.owned.pop(tp, None)
                self.unclaimed.discard(tp)

    async def on_partitions_assigned(self, assigned: Iterable[Partition]) -> None:
        partitions = set(assigned)
        async with self._batch_lock:
            self.unclaimed |= partitions
            try:
                await self.claim(partitions)
            except Exception as exc:  # the consumer claims them before it stores from them
                self._log.warning("could not read the stored offsets on assignment; will retry "
                                  "before storing from %d partition(s): %s", len(partitions), exc)

    async def claim(self, partitions: Iterable[Partition]) -> None:
        """Read the stored offsets and start each partition over from its own."""
        wanted = list(partitions)
        async with self._sessions() as session:
            stored = await stored_offsets(session, group=self._group,
                                          partitions=[(tp.topic, tp.partition) for tp in wanted])
        for tp in wanted:
            await self.restart(tp, stored.get((tp.topic, tp.partition)))

    async def restart(self, tp: Partition, stored: int | None) -> None:
        """Seek ``tp`` to where its window of recent ids starts before ``stored`` and start
        a fresh window; with nothing stored yet, to the group's Kafka offset (a database
        upgraded from the per-event ledger continues where that left off) or the start."""
        recent = RecentIds(block=self._block)
        if stored is None:
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
            resume = committed or 0
        else:
            self._consumer.seek(tp, recent.replay_from(stored))
            resume = stored
        self.made += 1
        self.owned[tp] = Claim(stored=stored, resume=resume, recent=recent, number=self.made)
        self.unclaimed.discard(tp)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Where these stand is unknown (a seek or a read failed): claim them again before
        storing anything from them."""
        for tp in partitions:
            self.owned.pop(tp, None)
            self.unclaimed.add(tp)
