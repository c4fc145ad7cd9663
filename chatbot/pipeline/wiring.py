"""The Kafka side of ``serve``: the consumer, the dead-letter producer and the
:class:`FlowConsumer` loop over them, started and stopped together. With a flows reader the
loop also reads ``CHATBOT_KAFKA_FLOWS_TOPIC`` (Hubble flows), in the same group; extra member
processes (``consumers > 1``) read the anomaly topic only.

A broker that is not there yet when the service starts is waited for, not died of: each
client's start is retried with a capped backoff (one log line per retry) and ``/readyz``
shows why Kafka is not up — as an advisory check, since deciding clicks needs no Kafka.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.config.settings import KafkaSettings
from chatbot.dependency import Dependency, NotReady, until_up
from chatbot.events.decoder import EventDecoder
from chatbot.events.fingerprint import Fingerprints
from chatbot.metrics import Metrics
from chatbot.pipeline.batch import BatchReader
from chatbot.pipeline.consumer import FlowConsumer, KafkaConsumer
from chatbot.pipeline.dead_letter import DeadLetters
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.pipeline.members import ConsumerMembers
from chatbot.store.ingest import IngestResult
from chatbot.unreachable import kafka_problem
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
    bootstrap: str | None = None
    flows_topic: str | None = None
    members: ConsumerMembers | None = None  # more consume loops, each a process
    state: Dependency = field(
        default_factory=lambda: Dependency("kafka", waiting="connecting to Kafka"))

    async def ready(self) -> bool:
        """The readiness probe: started, the loop is running, the last batch was stored,
        and a broker answers. aiokafka rides out a lost broker inside ``getmany`` (it
        reconnects and returns nothing), so the loop alone never notices an outage; a
        metadata request does (it raises once no known broker answers)."""
        await self.state.probe()
        if not self.consumer.healthy:
            raise NotReady(self.consumer.last_error or "the consumer loop is not running")
        try:
            await self.kafka_consumer.topics()
        except KafkaError as error:
            raise NotReady(kafka_problem(self.bootstrap, error) or str(error)) from error
        return True

    async def run(self, stop: asyncio.Event) -> None:
        if not await self._start(stop):
            return
        loop = asyncio.create_task(self.consumer.run(), name="flow-consumer")
        if self.members is not None:
            self.members.start()
        stopping = asyncio.create_task(stop.wait())
        try:
            # The loop ending on its own is this task ending: the supervisor stops the
            # service (exit non-zero) instead of it idling on with nothing consuming.
            await asyncio.wait({loop, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not stop.is_set():
                loop.result()  # raises what killed it
                raise RuntimeError("the flow consumer loop returned before the stop")
            await self.consumer.stop()
            await loop
        finally:
            stopping.cancel()
            loop.cancel()
            if self.members is not None:
                await self.members.stop()
            await self.kafka_consumer.stop()
            await self.producer.stop()

    async def _start(self, stop: asyncio.Event) -> bool:
        """Start both clients and wait for the topic, retrying while Kafka does not answer;
        False (everything closed again) if the service is stopped first."""
        try:
            for client in (self.producer, self.kafka_consumer):
                started = await until_up(self.state, client.start, stop=stop, log=log,
                                         describe=self._problem, last_step=False)
                if started is None and stop.is_set():
                    raise _Stopped
            if not await self._topics_exist(stop):
                raise _Stopped
        except BaseException as error:
            await self.kafka_consumer.stop()
            await self.producer.stop()
            if isinstance(error, _Stopped):
                return False
            raise
        log.info("consuming %s from Kafka at %s", " and ".join(self._topics()), self.bootstrap)
        return True

    def _problem(self, error: BaseException) -> str | None:
        return kafka_problem(self.bootstrap, error)

    def _topics(self) -> list[str]:
        return [self.topic, *([self.flows_topic] if self.flows_topic else [])]

    async def _topics_exist(self, stop: asyncio.Event) -> bool:
        """Wait for the topics read: a consumer subscribed to a topic created later would
        not see it until its next metadata refresh, minutes later. False if stopped first."""
        told = False
        while not stop.is_set():
            topics = await until_up(self.state, self.kafka_consumer.topics, stop=stop,
                                    log=log, describe=self._problem, last_step=False)
            if topics is None:
                return False
            missing = [topic for topic in self._topics() if topic not in topics]
            if not missing:
                self.state.mark_up()
                if self.dlq_topic not in topics:
                    log.warning("dead-letter topic %s does not exist; bad events will fail to "
                                "send unless the broker auto-creates topics", self.dlq_topic)
                return True
            waiting = f"topic {', '.join(missing)} does not exist yet; waiting for it"
            self.state.mark_down(waiting)
            if not told:
                log.warning("%s", waiting)
                told = True
            await nap(stop, seconds=TOPIC_POLL_SECONDS)
        return False


class _Stopped(Exception):
    """The service was stopped while Kafka was still being waited for."""


async def kafka_pipeline(
    settings: KafkaSettings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    rules: Rules,
    clock: Clock,
    metrics: Metrics,
    on_stored: Callable[[IngestResult], None],
    consumers: int = 1,
    flows: BatchReader | None = None,
) -> KafkaPipeline:
    """``consumers`` members of the group in all: this process's loop and ``consumers - 1``
    processes (chatbot/pipeline/members.py). ``flows``: the reader of the flows topic."""
    kafka_consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    flows_topic = settings.flows_topic if flows is not None else None
    flow = flow_consumer(consumer=kafka_consumer, producer=producer, settings=settings,
                         sessions=sessions, rules=rules, clock=clock, metrics=metrics,
                         on_stored=on_stored,
                         readers={flows_topic: flows} if flows and flows_topic else None)
    members = ConsumerMembers(count=consumers - 1, logger=log) if consumers > 1 else None
    return KafkaPipeline(consumer=flow, kafka_consumer=kafka_consumer, producer=producer,
                         topic=settings.topic, dlq_topic=settings.dlq_topic,
                         bootstrap=settings.bootstrap, members=members,
                         flows_topic=flows_topic)


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
    readers: Mapping[str, BatchReader] | None = None,
) -> FlowConsumer:
    """The consume loop over started clients, with its own fast decoder and fingerprint
    memory (also what bench/worker.py measures); ``readers``: further topics."""
    return FlowConsumer(
        consumer=consumer, topic=settings.topic, group=settings.group,
        dead_letters=DeadLetters(producer=producer, topic=settings.dlq_topic, clock=clock),
        sessions=sessions, rules=rules, clock=clock, metrics=metrics, logger=log,
        decode=EventDecoder(), readers=readers, fingerprint=Fingerprints(),
        on_stored=on_stored)
