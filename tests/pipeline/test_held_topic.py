"""A topic whose reader cannot judge its records for now (Hubble flows while the approved
intents are not read yet, or the apiserver refuses owner lookups) waits on its own: the
anomaly topic goes on being stored, the held records are not lost or skipped, and once the
reader can judge again they are stored — against the bench's real Kafka and database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from chatbot.errors import TemporaryError
from chatbot.events.decoder import EventDecoder
from chatbot.events.model import FlowEvent
from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from tests.events.samples import edited, encoded, kubernetes_event
from tests.pipeline.harness import Store, running_pipeline
from tests.pipeline.kafka_io import Outgoing, eventually, produce


class Reader:
    """Judges the flows topic like the real reader's contract says, once allowed to."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.refused = 0

    async def prepare(self, values: Sequence[bytes]) -> Callable[[bytes], FlowEvent]:
        if values and not self.ready.is_set():
            self.refused += 1
            raise TemporaryError("the approved ClientIntents are not read yet", delay=0.1)
        return EventDecoder()

    def settle(self, *, stored: bool) -> None:
        pass


def events(flow: str, count: int) -> list[Outgoing]:
    return [Outgoing(encoded(edited(kubernetes_event(f"{flow}-{n}"), "client.name", flow)))
            for n in range(count)]


async def test_a_held_topic_waits_alone_and_loses_nothing(
        kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store) -> None:
    topic, flows, dlq = await new_topic(), await new_topic(partitions=2), await new_topic()
    reader = Reader()
    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=50,
                                readers={flows: reader}) as pipeline:
        await produce(kafka_broker.bootstrap, flows, events("from-hubble", 40))
        await eventually(lambda: reader.refused >= 3, what="the reader refusing a few times")
        await produce(kafka_broker.bootstrap, topic, events("from-schema-v1", 30))
        await eventually(lambda: _counts_are(store, [30]), what="the anomaly topic stored")
        assert not pipeline.flow.healthy
        assert "waits: the approved ClientIntents are not read yet" in str(
            pipeline.flow.last_error)

        reader.ready.set()
        await eventually(lambda: _counts_are(store, [30, 40]), what="the held flows stored")
        await produce(kafka_broker.bootstrap, flows, events("later", 5))
        await eventually(lambda: _counts_are(store, [5, 30, 40]), what="later flows stored")
        assert pipeline.flow.last_error is None  # healthy again
    assert await store.events_stored() == 75


async def _counts_are(store: Store, expected: list[int]) -> bool:
    return sorted((await store.event_counts()).values()) == expected
