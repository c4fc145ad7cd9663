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
import multiprocessing
import queue
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

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

    def __init__(self, consumer: AIOKafkaConsumer,
                 gate: Callable[[], Awaitable[None]] | None = None) -> None:
        self.consumer = consumer
        self._gate = gate
        self.first: float | None = None
        self.first_wall = 0.0  # time.time() of the same moment, comparable across processes
        self.first_cpu = 0.0

    def subscribe(self, topics: Sequence[str], *, listener: object) -> None:
        self.consumer.subscribe(topics, listener=listener)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batch:
        if self._gate is not None:
            await self._gate()
            self._gate = None
        batch: Batch = await self.consumer.getmany(timeout_ms=timeout_ms,
                                                   max_records=max_records)
        if batch and self.first is None:
            self.first = time.monotonic()
            self.first_wall = time.time()
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

    def pause(self, *partitions: Partition) -> None:
        self.consumer.pause(*partitions)

    def resume(self, *partitions: Partition) -> None:
        self.consumer.resume(*partitions)

    def paused(self) -> Set[Partition]:
        paused: Set[Partition] = self.consumer.paused()
        return paused


def kafka_settings(bootstrap: str, topic: str, group: str | None = None) -> KafkaSettings:
    return KafkaSettings(bootstrap=bootstrap, topic=topic,
                         group=group or f"bench-{uuid.uuid4().hex}", dlq_topic=f"{topic}.dlq")


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


class Tally:
    """Events stored so far, across every member of the group; ``finished`` is the wall
    time (``time.time()``) the last one was stored. Shared memory when the members are
    processes (:func:`service_processes`), plain numbers in one process."""

    def __init__(self, total: int, *, members: int = 1) -> None:
        self.total = total
        shared = members > 1
        context = multiprocessing.get_context("spawn")
        self._stored = context.Value("q", 0) if shared else None
        self._finished = context.Value("d", 0.0) if shared else None
        self._assigned = context.Array("i", members) if shared else None
        self._local_stored = 0
        self._local_finished = 0.0

    def add(self, events: int) -> None:
        if self._stored is None or self._finished is None:
            self._local_stored += events
            if self._local_stored >= self.total and not self._local_finished:
                self._local_finished = time.time()
            return
        with self._stored.get_lock():
            self._stored.value += events
            if self._stored.value >= self.total and not self._finished.value:
                self._finished.value = time.time()

    @property
    def finished(self) -> float:
        return self._finished.value if self._finished is not None else self._local_finished

    async def balanced(self, member: int, consumer: AIOKafkaConsumer, topic: str) -> None:
        """Wait until every member of the group owns its share of the partitions, so the
        measurement is of the group at work, not of the first member alone while the
        others join."""
        if self._assigned is None:
            return
        assigned = self._assigned
        while True:
            partitions = consumer.partitions_for_topic(topic) or set()
            assigned[member] = len(consumer.assignment())
            shares = [int(share) for share in assigned[:]]
            fair = -(-len(partitions) // len(shares))
            if partitions and sum(shares) == len(partitions) and min(shares) > 0 and max(
                    shares) <= fair:
                return
            await asyncio.sleep(0.05)


async def service(bootstrap: str, topic: str, tally: Tally, database_url: str, *,
                  group: str | None = None, member: int = 0, migrate: bool = True
                  ) -> tuple[float, float, float]:
    """The service's ingest path as ``chatbot serve`` wires it (see pipeline/wiring.py),
    until ``tally`` says every event is stored; (first fetch wall time, CPU seconds since,
    this member's events)."""
    settings = kafka_settings(bootstrap, topic, group)
    engine = make_engine(database_url)
    if migrate:
        await upgrade(engine)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as rules_file:
        rules_file.write(rules_yaml())
        rules_file.flush()
        rules = load_rules(Path(rules_file.name))
    kafka_consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    timed = FirstFetch(kafka_consumer,
                       gate=lambda: tally.balanced(member, kafka_consumer, topic))
    mine = 0
    done = asyncio.Event()

    def on_stored(result: IngestResult) -> None:
        nonlocal mine
        mine += result.events
        tally.add(result.events)
        if tally.finished:
            done.set()

    async def others_finish() -> None:
        """Another member may store the last event: its time is in the tally already, so
        this need not be prompt."""
        while not tally.finished:  # noqa: ASYNC110  # shared memory has no event to await
            await asyncio.sleep(0.05)
        done.set()

    flow = flow_consumer(consumer=timed, producer=producer, settings=settings,
                         sessions=make_sessions(engine), rules=rules, clock=SystemClock(),
                         metrics=Metrics(), on_stored=on_stored)
    await producer.start()
    await kafka_consumer.start()
    loop = asyncio.create_task(flow.run())
    watch = asyncio.create_task(others_finish())
    try:
        await done.wait()
        cpu = time.process_time()
        watch.cancel()
        await flow.stop()
        await loop
    finally:
        await kafka_consumer.stop()
        await producer.stop()
        await engine.dispose()
    assert timed.first is not None
    return timed.first_wall, cpu - timed.first_cpu, mine


def _member(bootstrap: str, topic: str, tally: Tally, database_url: str, group: str,
            member: int, results: Any) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    results.put((*asyncio.run(service(bootstrap, topic, tally, database_url, group=group,
                                      member=member, migrate=False)), peak_rss_mb()))


def service_processes(bootstrap: str, topic: str, total: int, database_url: str,
                      processes: int) -> tuple[Timing, float, list[tuple[float, float, int]]]:
    """``processes`` members of one consumer group, each a process of its own (as
    ``chatbot serve --consumers N`` runs them): (wall and summed CPU seconds from the
    first fetch of any member, the largest peak RSS, each member's (seconds, CPU, events)."""
    asyncio.run(_migrate(database_url))
    context = multiprocessing.get_context("spawn")
    tally = Tally(total, members=processes)
    results = context.Queue()
    group = f"bench-{uuid.uuid4().hex}"
    members = [context.Process(target=_member, args=(bootstrap, topic, tally, database_url,
                                                     group, index, results))
               for index in range(processes)]
    for member in members:
        member.start()
    reported: list[tuple[float, float, int, float]] = []
    deadline = time.monotonic() + 1800
    while len(reported) < processes:
        try:
            reported.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [m.exitcode for m in members if m.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for member in members:
                    member.kill()
                raise RuntimeError(f"a group member failed (exit codes {dead})") from None
    for member in members:
        member.join()
    first = min(started for started, _, _, _ in reported)
    seconds = tally.finished - first
    return ((seconds, sum(cpu for _, cpu, _, _ in reported)),
            max(rss for *_, rss in reported),
            [(tally.finished - started, cpu, events) for started, cpu, events, _ in reported])


async def _migrate(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


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
    parser.add_argument("--processes", type=int, default=1,
                        help="service: members of one group, each its own process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    profiler = None
    extra: dict[str, object] = {}
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    if args.mode == "raw-aiokafka":
        seconds, cpu = asyncio.run(raw_aiokafka(args.bootstrap, args.topic, args.events,
                                                args.max_records))
    elif args.mode == "raw-confluent":
        seconds, cpu = raw_confluent(args.bootstrap, args.topic, args.events)
    elif args.processes > 1:
        (seconds, cpu), rss, members = service_processes(
            args.bootstrap, args.topic, args.events, args.database_url, args.processes)
        extra = {"members": members, "vmhwm_mb": rss}
    else:
        tally = Tally(args.events)
        first, cpu, _ = asyncio.run(service(args.bootstrap, args.topic, tally,
                                            args.database_url))
        seconds = tally.finished - first
    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_text(unicode=True, show_all=False))
        args.profile.with_suffix(".html").write_text(profiler.output_html())
    print(orjson.dumps({"mode": args.mode, "events": args.events, "seconds": seconds,
                        "cpu_seconds": cpu, "vmhwm_mb": peak_rss_mb(), **extra}).decode(),
          flush=True)


if __name__ == "__main__":
    main()
