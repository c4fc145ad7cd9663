"""Dead letters against the real broker: the original bytes, key and headers travel unchanged
with the reason, source and time; a record too big to send with our headers is kept as a
prefix rather than blocking its partition; a long reason is cut on a character boundary."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from chatbot.clock import ManualClock
from chatbot.config.settings import KafkaSettings
from chatbot.pipeline.dead_letter import (
    AT_HEADER,
    REASON_HEADER,
    SOURCE_HEADER,
    TRUNCATED_HEADER,
    DeadLetters,
    Headers,
    capped,
)
from chatbot.pipeline.kafka_clients import producer_kwargs
from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from tests.pipeline.kafka_io import read_topic


@dataclass(frozen=True)
class Record:
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()
    topic: str = "flow-anomalies"
    partition: int = 2
    offset: int = 41


async def test_records_are_dead_lettered_as_they_came_and_oversize_ones_as_a_prefix(
    kafka_broker: KafkaBroker, new_topic: TopicFactory
) -> None:
    dlq = await new_topic()
    producer = AIOKafkaProducer(**producer_kwargs(KafkaSettings(bootstrap=kafka_broker.bootstrap)),
                                max_request_size=8192)
    await producer.start()
    clock = ManualClock()
    huge = bytes(range(256)) * 64
    try:
        await DeadLetters(producer=producer, topic=dlq, clock=clock, truncate_to=1000).send([
            (Record(b"\xff not json", b"k1", [("trace-id", b"t1")]), "event is not valid UTF-8"),
            (Record(huge, b"k2", offset=42), "event is 16384 bytes, over the limit"),
            (Record(None, offset=43), "empty record"),
        ])
    finally:
        await producer.stop()

    dead = await read_topic(kafka_broker.bootstrap, dlq, 3)
    first, second, third = sorted(dead, key=lambda record: record.headers[SOURCE_HEADER])
    assert (first.value, first.key) == (b"\xff not json", b"k1")
    assert first.headers == {"trace-id": b"t1", REASON_HEADER: b"event is not valid UTF-8",
                             SOURCE_HEADER: b"flow-anomalies/2/41",
                             AT_HEADER: clock.now().isoformat().encode()}
    assert (third.value, third.headers[SOURCE_HEADER]) == (b"", b"flow-anomalies/2/43")
    assert second.value == huge[:1000]
    assert second.key == b"k2"
    assert second.headers[TRUNCATED_HEADER] == b"16384"


def test_a_long_reason_is_capped_without_splitting_a_character() -> None:
    reason = "field 'client.name' is " + "é" * 2000

    header = capped(reason)

    assert len(header) <= 1024
    assert header.decode("utf-8").endswith("é...")
    assert capped("short") == b"short"
