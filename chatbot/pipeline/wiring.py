"""The Kafka side of ``serve``: the consumer, the dead-letter producer and the
:class:`FlowConsumer` loop over them, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.config.settings import KafkaSettings
from chatbot.metrics import Metrics
from chatbot.pipeline.consumer import FlowConsumer
from chatbot.pipeline.dead_letter import DeadLetters
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.store.ingest import IngestResult
from chatbot.store.seen_cache import SeenCache

log = logging.getLogger("chatbot.pipeline")


@dataclass
class KafkaPipeline:
    consumer: FlowConsumer
    kafka_consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer

    async def run(self, stop: asyncio.Event) -> None:
        await self.producer.start()
        await self.kafka_consumer.start()
        loop = asyncio.create_task(self.consumer.run(), name="flow-consumer")
        try:
            await stop.wait()
            await self.consumer.stop()
            await loop
        finally:
            loop.cancel()
            await self.kafka_consumer.stop()
            await self.producer.stop()


async def kafka_pipeline(
    settings: KafkaSettings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    rules: Rules,
    clock: Clock,
    metrics: Metrics,
    on_stored: Callable[[IngestResult], None],
    seen: SeenCache | None = None,
) -> KafkaPipeline:
    kafka_consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    flow = FlowConsumer(
        consumer=kafka_consumer, topic=settings.topic,
        dead_letters=DeadLetters(producer=producer, topic=settings.dlq_topic, clock=clock),
        sessions=sessions, rules=rules, clock=clock, metrics=metrics, logger=log,
        on_stored=on_stored, seen=seen)
    return KafkaPipeline(consumer=flow, kafka_consumer=kafka_consumer, producer=producer)
