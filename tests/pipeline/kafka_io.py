"""Test-side Kafka I/O for pipeline stories: produce raw records, read a topic back, and read a
group's committed offsets next to the topic's end offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Outgoing:
    value: bytes | None
    key: bytes | None = None
    headers: Headers | None = None
    partition: int | None = None


async def produce(bootstrap: str, topic: str, records: Sequence[Outgoing]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        sent = [await producer.send(topic, record.value, record.key, partition=record.partition,
                                    headers=record.headers)
                for record in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Received:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


async def read_topic(bootstrap: str, topic: str, count: int) -> list[Received]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    received: list[Received] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < count:
                batches = await consumer.getmany(timeout_ms=200)
                received.extend(
                    Received(r.partition, r.offset, r.key, r.value, dict(r.headers))
                    for records in batches.values() for r in records)
    finally:
        await consumer.stop()
    return sorted(received, key=lambda r: (r.partition, r.offset))


async def offsets(bootstrap: str, group: str, topic: str, *, partitions: int = 1
                  ) -> tuple[dict[int, int | None], dict[int, int]]:
    """(the group's committed offset per partition, the topic's end offset per partition)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, partition) for partition in range(partitions)]
        committed = {tp.partition: await consumer.committed(tp) for tp in tps}
        ends = await consumer.end_offsets(tps)
        return committed, {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], object], *, within: float = 30,
                     what: str = "condition") -> None:
    """Wait until `check()` (sync or async) returns something true."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)
