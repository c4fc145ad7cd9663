"""The Kafka side of ``serve``: the consumer, the dead-letter producer and the
:class:`FlowConsumer` loop over them (with its own fast decoder and fingerprint memory),
started and stopped together."""

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
from chatbot.events.decoder import EventDecoder
from chatbot.events.fingerprint import Fingerprints
from chatbot.metrics import Metrics
from chatbot.pipeline.consumer import FlowConsumer, KafkaConsumer
from chatbot.pipeline.dead_letter import DeadLetters
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.pipeline.members import ConsumerMembers
from chatbot.store.ingest import IngestResult
from chatbot.waiting import nap

log = logging.getLogger("chatbot.pipeline")


TOPIC_POLL_SECONDS = 2.0


@dataclass
class KafkaPipeline:
    consumer: FlowConsumer
    kafka_consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    topic: str
    dlq_topic: str
    members: ConsumerMembers | None = None  # more consume loops, each a process

    async def ready(self) -> bool:
        """The readiness probe: the loop is running, the last batch was stored, and a broker
        answers. aiokafka rides out a lost broker inside ``getmany`` (it reconnects and
        returns nothing), so the loop alone never notices an outage; a metadata request
        does (it raises once no known broker answers)."""
        if not self.consumer.healthy:
            return False
        await self.kafka_consumer.topics()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        await self.producer.start()
        await self.kafka_consumer.start()
        try:
            if not await self._topics_exist(stop):
                return
        except BaseException:
            await self.kafka_consumer.stop()
            await self.producer.stop()
            raise
        loop = asyncio.create_task(self.consumer.run(), name="flow-consumer")
        if self.members is not None:
            self.members.start()
        try:
            await stop.wait()
            await self.consumer.stop()
            await loop
        finally:
            loop.cancel()
            if self.members is not None:
                await self.members.stop()
            await self.kafka_consumer.stop()
            await self.producer.stop()

    async def _topics_exist(self, stop: asyncio.Event) -> bool:
        """Wait for the anomaly topic: a consumer subscribed to a topic created later would
        not see it until its next metadata refresh, minutes later. False if stopped first."""
        told = False
        while not stop.is_set():
            topics = await self.kafka_consumer.topics()
            if self.topic in topics:
                if self.dlq_topic not in topics:
                    log.warning("dead-letter topic %s does not exist; bad events will fail to "
                                "send unless the broker auto-creates topics", self.dlq_topic)
                return True
            if not told:
                log.warning("topic %s does not exist yet; waiting for it", self.topic)
                told = True
            await nap(stop, seconds=TOPIC_POLL_SECONDS)
        await self.kafka_consumer.stop()
        await self.producer.stop()
        return False


async def kafka_pipeline(
    settings: KafkaSettings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    rules: Rules,
    clock: Clock,
    metrics: Metrics,
    on_stored: Callable[[IngestResult], None],
    consumers: int = 1,
) -> KafkaPipeline:
    """``consumers`` members of the group in all: this process's loop and ``consumers - 1``
    processes (chatbot/pipeline/members.py)."""
    kafka_consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    flow = flow_consumer(consumer=kafka_consumer, producer=producer, settings=settings,
                         sessions=sessions, rules=rules, clock=clock, metrics=metrics,
                         on_stored=on_stored)
    members = ConsumerMembers(count=consumers - 1, logger=log) if consumers > 1 else None
    return KafkaPipeline(consumer=flow, kafka_consumer=kafka_consumer, producer=producer,
                         topic=settings.topic, dlq_topic=settings.dlq_topic, members=members)


def flow_consumer(
    *,
    consumer: KafkaConsumer,
    producer: AIOKafkaProducer,
    settings: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    rules: Rules,
    clock: Clock,
    metrics: Metrics,
    on_stored: Callable[[IngestResult], None],
) -> FlowConsumer:
    """The consume loop over started clients, with its own fast decoder and fingerprint
    memory (also what bench/worker.py measures)."""
    return FlowConsumer(
        consumer=consumer, topic=settings.topic, group=settings.group,
        dead_letters=DeadLetters(producer=producer, topic=settings.dlq_topic, clock=clock),
        sessions=sessions, rules=rules, clock=clock, metrics=metrics, logger=log,
        decode=EventDecoder(), fingerprint=Fingerprints(), on_stored=on_stored)
