"""A FlowConsumer wired the way the composition root wires it (real aiokafka clients from
kafka_clients, a real database), running in a task for the length of a `with` block."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chatbot.clock import SystemClock
from chatbot.config.rules import Rules
from chatbot.config.settings import KafkaSettings
from chatbot.metrics import Metrics
from chatbot.pipeline.consumer import Backoff, FlowConsumer
from chatbot.pipeline.dead_letter import DeadLetters
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.store.ingest import IngestResult
from chatbot.store.models import Anomaly, SeenEvent

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

    async def seen_events(self) -> int:
        async with self.sessions() as session:
            return (await session.execute(select(func.count()).select_from(SeenEvent))).scalar_one()

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
    max_records: int = 500, logger: logging.Logger | None = None,
) -> AsyncIterator[Pipeline]:
    settings = KafkaSettings(bootstrap=bootstrap, topic=topic, dlq_topic=dlq_topic,
                             group=group or f"group-{uuid.uuid4().hex[:8]}")
    consumer = AIOKafkaConsumer(**consumer_kwargs(settings, max_poll_records=max_records))
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await consumer.start()
    await producer.start()
    metrics = Metrics()
    stored: list[IngestResult] = []
    clock = SystemClock()
    flow = FlowConsumer(
        consumer=consumer, topic=topic,
        dead_letters=DeadLetters(producer=producer, topic=dlq_topic, clock=clock),
        sessions=store.sessions, rules=RULES, clock=clock, metrics=metrics,
        logger=logger or logging.getLogger("tests.pipeline"), on_stored=stored.append,
        max_records=max_records, poll_timeout_ms=100, backoff=FAST_RETRY,
    )
    task = asyncio.create_task(flow.run())
    try:
        yield Pipeline(flow, metrics, settings.group, task, stored)
    finally:
        await flow.stop()
        await task
        await consumer.stop()
        await producer.stop()
