"""One measurement in a process of its own (``python -m bench.worker MODE …``), so every
figure starts from a fresh interpreter and its peak RSS (VmHWM) belongs to that size alone.

Modes: ``raw-aiokafka`` and ``raw-confluent`` only read the topic; ``service`` runs the
service's ingest path (FlowConsumer: consume → validate → fingerprint → dedup/persist →
commit) on the database URL given. Each prints one JSON line: events, seconds (first fetched
batch to last event stored), vmhwm_mb. ``--profile FILE`` records a pyinstrument profile.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence, Set
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer

from bench.flows import rules_yaml
from chatbot.clock import SystemClock
from chatbot.config.load import load_rules
from chatbot.config.settings import KafkaSettings
from chatbot.metrics import Metrics
from chatbot.pipeline.consumer import MAX_RECORDS, Batch, Partition
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.pipeline.wiring import flow_consumer
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.ingest import IngestResult
from chatbot.store.migrate import upgrade

POLL_MS = 500


class FirstFetch:
    """An aiokafka consumer that notes when the first records arrived, so the group join
    (the same for every client) stays out of the rate."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.first: float | None = None
        self.first_cpu = 0.0

    def subscribe(self, topics: Sequence[str], *, listener: object) -> None:
        self.consumer.subscribe(topics, listener=listener)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batch:
        batch: Batch = await self.consumer.getmany(timeout_ms=timeout_ms,
                                                   max_records=max_records)
        if batch and self.first is None:
            self.first = time.monotonic()
            self.first_cpu = time.process_time()
        return batch

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        await self.consumer.commit(offsets)

    def seek(self, partition: Partition, offset: int) -> None:
        self.consumer.seek(partition, offset)

    async def seek_to_beginning(self, *partitions: Partition) -> object:
        return await self.consumer.seek_to_beginning(*partitions)

    async def committed(self, partition: Partition) -> int | None:
        offset: int | None = await self.consumer.committed(partition)
        return offset

    def assignment(self) -> Set[Partition]:
        assigned: Set[Partition] = self.consumer.assignment()
        return assigned


def kafka_settings(bootstrap: str, topic: str) -> KafkaSettings:
    return KafkaSettings(bootstrap=bootstrap, topic=topic, group=f"bench-{uuid.uuid4().hex}",
                         dlq_topic=f"{topic}.dlq")


Timing = tuple[float, float]  # (seconds, CPU seconds) from the first fetched batch on


async def raw_aiokafka(bootstrap: str, topic: str, total: int, max_records: int) -> Timing:
    """The same client settings as the service, doing nothing per record."""
    settings = kafka_settings(bootstrap, topic)
    consumer = FirstFetch(AIOKafkaConsumer(topic, **consumer_kwargs(settings)))
    await consumer.consumer.start()
    seen = 0
    try:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=max_records)
            seen += sum(len(records) for records in batch.values())
        finished, cpu = time.monotonic(), time.process_time()
    finally:
        await consumer.consumer.stop()
    assert consumer.first is not None
    return finished - consumer.first, cpu - consumer.first_cpu


def raw_confluent(bootstrap: str, topic: str, total: int) -> Timing:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = 0
    first: float | None = None
    first_cpu = 0.0
    try:
        while seen < total:
            # consume() waits until it has num_messages (or the timeout): never ask for more
            # than are left, or the last call would idle out its timeout.
            messages = consumer.consume(num_messages=min(MAX_RECORDS, total - seen),
                                        timeout=POLL_MS / 1000)
            if messages and first is None:
                first, first_cpu = time.monotonic(), time.process_time()
            seen += sum(1 for message in messages if message.error() is None)
        finished, cpu = time.monotonic(), time.process_time()
    finally:
        consumer.close()
    assert first is not None
    return finished - first, cpu - first_cpu


async def service(bootstrap: str, topic: str, total: int, database_url: str) -> Timing:
    """The service's ingest path as ``chatbot serve`` wires it (see pipeline/wiring.py)."""
    settings = kafka_settings(bootstrap, topic)
    engine = make_engine(database_url)
    await upgrade(engine)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as rules_file:
        rules_file.write(rules_yaml())
        rules_file.flush()
        rules = load_rules(Path(rules_file.name))
    kafka_consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    timed = FirstFetch(kafka_consumer)
    stored = 0
    done = asyncio.Event()

    def on_stored(result: IngestResult) -> None:
        nonlocal stored
        stored += result.events
        if stored >= total:
            done.set()

    flow = flow_consumer(consumer=timed, producer=producer, settings=settings,
                         sessions=make_sessions(engine), rules=rules, clock=SystemClock(),
                         metrics=Metrics(), on_stored=on_stored)
    await producer.start()
    await kafka_consumer.start()
    loop = asyncio.create_task(flow.run())
    try:
        await done.wait()
        finished, cpu = time.monotonic(), time.process_time()
        await flow.stop()
        await loop
    finally:
        await kafka_consumer.stop()
        await producer.stop()
        await engine.dispose()
    assert timed.first is not None
    return finished - timed.first, cpu - timed.first_cpu


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("mode", choices=["raw-aiokafka", "raw-confluent", "service"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--max-records", type=int, default=MAX_RECORDS,
                        help="records per getmany for raw-aiokafka (the service uses its own)")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    if args.mode == "raw-aiokafka":
        seconds, cpu = asyncio.run(raw_aiokafka(args.bootstrap, args.topic, args.events,
                                                args.max_records))
    elif args.mode == "raw-confluent":
        seconds, cpu = raw_confluent(args.bootstrap, args.topic, args.events)
    else:
        seconds, cpu = asyncio.run(service(args.bootstrap, args.topic, args.events,
                                           args.database_url))
    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_text(unicode=True, show_all=False))
        args.profile.with_suffix(".html").write_text(profiler.output_html())
    print(orjson.dumps({"mode": args.mode, "events": args.events, "seconds": seconds,
                        "cpu_seconds": cpu, "vmhwm_mb": peak_rss_mb()}).decode(), flush=True)


if __name__ == "__main__":
    main()
