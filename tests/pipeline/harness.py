"""A FlowConsumer wired the way the composition root wires it (real aiokafka clients from
kafka_clients, a real database), running in a task for the length of a `with` block."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chatbot.clock import SystemClock
from chatbot.config.rules import Rules
from chatbot.config.settings import KafkaSettings
from chatbot.events.decoder import EventDecoder
from chatbot.events.fingerprint import Fingerprints
from chatbot.metrics import Metrics
from chatbot.pipeline.batch import BatchReader
from chatbot.pipeline.consumer import Backoff, Batch, FlowConsumer, KafkaConsumer, Partition
from chatbot.pipeline.dead_letter import DeadLetters
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.store.ingest import IngestResult
from chatbot.store.models import Anomaly
from chatbot.store.offsets import events_stored

RULES = Rules(default_channel="flow-alerts")
FAST_RETRY = Backoff(first=0.05, cap=0.2)


@dataclass
class Store:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def event_counts(self) -> dict[str, int]:
        """Anomaly id → event_count."""
        async with self.sessions() as session:
            rows = await session.execute(select(Anomaly.id, Anomaly.event_count))
            return {row.id: row.event_count for row in rows}

    async def events_stored(self) -> int:
        """Valid events stored, by the counts kept with the stored offsets."""
        async with self.sessions() as session:
            return await events_stored(session)

    async def anomaly_count(self) -> int:
        async with self.sessions() as session:
            return (await session.execute(select(func.count()).select_from(Anomaly))).scalar_one()

    async def execute(self, statement: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(statement))


@dataclass
class Pipeline:
    flow: FlowConsumer
    metrics: Metrics
    group: str
    task: asyncio.Task[None]
    stored: list[IngestResult] = field(default_factory=list)

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def running_pipeline(
    *, bootstrap: str, topic: str, dlq_topic: str, store: Store, group: str | None = None,
    max_records: int = 500, logger: logging.Logger | None = None, recent_block: int = 25_000,
    offsets_group: str | None = None, kafka_commits: bool = True,
    readers: Mapping[str, BatchReader] | None = None,
) -> AsyncIterator[Pipeline]:
    """``offsets_group`` stores the offsets under another name than the Kafka group (two
    groups sharing one stored position: two members that both think they own a partition);
    ``kafka_commits=False`` drops every commit to Kafka, as if each failed."""
    settings = KafkaSettings(bootstrap=bootstrap, topic=topic, dlq_topic=dlq_topic,
                             group=group or f"group-{uuid.uuid4().hex[:8]}")
    consumer = AIOKafkaConsumer(**consumer_kwargs(settings, max_poll_records=max_records))
    kafka: KafkaConsumer = consumer if kafka_commits else _NoCommits(consumer)
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await consumer.start()
    await producer.start()
    metrics = Metrics()
    stored: list[IngestResult] = []
    clock = SystemClock()
    flow = FlowConsumer(
        consumer=kafka, topic=topic, group=offsets_group or settings.group,
        dead_letters=DeadLetters(producer=producer, topic=dlq_topic, clock=clock),
        sessions=store.sessions, rules=RULES, clock=clock, metrics=metrics,
        logger=logger or logging.getLogger("tests.pipeline"), decode=EventDecoder(),
        fingerprint=Fingerprints(), on_stored=stored.append, max_records=max_records,
        poll_timeout_ms=100, backoff=FAST_RETRY, recent_block=recent_block, readers=readers,
    )
    task = asyncio.create_task(flow.run())
    try:
        yield Pipeline(flow, metrics, settings.group, task, stored)
    finally:
        await flow.stop()
        await task
        await consumer.stop()
        await producer.stop()


class _NoCommits:
    """An aiokafka consumer whose commits never reach Kafka."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    def subscribe(self, topics: Sequence[str], *, listener: object) -> None:
        self._consumer.subscribe(topics, listener=listener)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batch:
        batch: Batch = await self._consumer.getmany(timeout_ms=timeout_ms,
                                                    max_records=max_records)
        return batch

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        return None

    def seek(self, partition: Partition, offset: int) -> None:
        self._consumer.seek(partition, offset)

    async def seek_to_beginning(self, *partitions: Partition) -> object:
        return await self._consumer.seek_to_beginning(*partitions)

    async def committed(self, partition: Partition) -> int | None:
        offset: int | None = await self._consumer.committed(partition)
        return offset

    def assignment(self) -> Set[Partition]:
        assigned: Set[Partition] = self._consumer.assignment()
        return assigned

    def pause(self, *partitions: Partition) -> None:
        self._consumer.pause(*partitions)

    def resume(self, *partitions: Partition) -> None:
        self._consumer.resume(*partitions)

    def paused(self) -> Set[Partition]:
        paused: Set[Partition] = self._consumer.paused()
        return paused


@asynccontextmanager
async def writes_held(store: Store) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Hold the database's write lock (SQLite) or the offsets table's (PostgreSQL): a batch
    being stored meanwhile waits. Yields ``release()``, which ends the hold early."""
    async with store.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            await connection.begin()
            await connection.exec_driver_sql(
                "LOCK TABLE consumer_offsets IN EXCLUSIVE MODE")
        held = True

        async def release() -> None:
            nonlocal held
            if held:
                held = False
                await connection.rollback()

        try:
            yield release
        finally:
            await release()
