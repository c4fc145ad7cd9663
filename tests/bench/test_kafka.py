"""The bench's Kafka broker works with the client the bot uses: aiokafka produces with
headers, a consumer group commits by hand and a new member reads the commits back, and
records and offsets survive the broker restarting (gracefully or by crash)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker

EVENTS = 60


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic,
                key=f"e-{number}".encode(),
                value=f'{{"event_id": "e-{number}"}}'.encode(),
                headers=[("event-id", f"e-{number}".encode()), ("schema", b"1")],
            )
            for number in range(count)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def group_consumer(bootstrap: str, group: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def drain(consumer: AIOKafkaConsumer, count: int) -> list[ConsumerRecord]:
    records: list[ConsumerRecord] = []
    async with asyncio.timeout(60):
        while len(records) < count:
            batches = await consumer.getmany(timeout_ms=500)
            records.extend(record for batch in batches.values() for record in batch)
    return records


async def test_a_new_group_member_reads_back_the_committed_offsets(
    kafka_broker: KafkaBroker, new_topic: TopicFactory
) -> None:
    topic = await new_topic(partitions=3)
    group = f"group-{uuid.uuid4().hex[:8]}"
    await produce(kafka_broker.bootstrap, topic, EVENTS)

    consumer = group_consumer(kafka_broker.bootstrap, group, topic)
    await consumer.start()
    try:
        records = await drain(consumer, EVENTS)
        await consumer.commit()
    finally:
        await consumer.stop()

    assert sorted(record.value for record in records) == sorted(
        f'{{"event_id": "e-{number}"}}'.encode() for number in range(EVENTS)
    )
    assert all(
        list(record.headers) == [("event-id", record.key), ("schema", b"1")]
        for record in records
    )
    assert {record.partition for record in records} == {0, 1, 2}

    member = group_consumer(kafka_broker.bootstrap, group)
    await member.start()
    try:
        partitions = [TopicPartition(topic, number) for number in range(3)]
        ends = await member.end_offsets(partitions)
        committed = {partition: await member.committed(partition) for partition in partitions}
    finally:
        await member.stop()
    assert committed == ends
    assert sum(ends.values()) == EVENTS


@pytest.mark.parametrize("crash", [False, True], ids=["graceful", "crash"])
async def test_records_and_offsets_survive_a_broker_restart(
    kafka_broker: KafkaBroker, kafka_topic: str, crash: bool
) -> None:
    group = f"group-{uuid.uuid4().hex[:8]}"
    partition = TopicPartition(kafka_topic, 0)
    await produce(kafka_broker.bootstrap, kafka_topic, EVENTS)
    consumer = group_consumer(kafka_broker.bootstrap, group, kafka_topic)
    await consumer.start()
    try:
        await drain(consumer, EVENTS)
        await consumer.commit({partition: EVENTS // 2})
    finally:
        await consumer.stop()

    await asyncio.to_thread(kafka_broker.restart, crash=crash)

    resumed = group_consumer(kafka_broker.bootstrap, group, kafka_topic)
    await resumed.start()
    try:
        assert await resumed.committed(partition) == EVENTS // 2
        rest = await drain(resumed, EVENTS - EVENTS // 2)
    finally:
        await resumed.stop()
    assert [record.offset for record in rest] == list(range(EVENTS // 2, EVENTS))
    assert [record.key for record in rest] == [
        f"e-{number}".encode() for number in range(EVENTS // 2, EVENTS)
    ]
