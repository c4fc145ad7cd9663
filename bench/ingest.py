"""Stages 1 and 4: the service's ingest path against the broker's limit, and its growth.

Every measurement is a child process (bench/worker.py) reading the same topic with a fresh
consumer group, so the raw clients and the service see exactly the same records. Stage 1
covers (a) the anomaly flood (many events over few flows, the samples' severity mix) as a
ratio to raw aiokafka, (c) an all-new-flows stream (every event a new flow: a new cluster
or a mass rollout) as new anomalies stored per second, and the CPU floor."""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import flows
from bench.produce import produce
from bench.report import Report, progress, rate
from bench.workers import Measured, measure
from chatbot.events.decoder import EventDecoder
from chatbot.events.fingerprint import Fingerprints, fingerprint
from chatbot.events.parse import parse_event
from chatbot.pipeline.consumer import MAX_RECORDS
from testbench.kafka import KafkaBroker
from testbench.postgres import PostgresServer

TARGET_RATIO = 0.5
AIOKAFKA_DEFAULT_BATCH = 500  # max_poll_records in chatbot/pipeline/kafka_clients.py
# The baseline is the fastest of these: aiokafka's default, the old and the new batch size
# of the service (with the service's client settings, chatbot/pipeline/kafka_clients.py).
BATCH_SIZES = (AIOKAFKA_DEFAULT_BATCH, 5000, MAX_RECORDS)
TARGET_RSS_MB = 200.0
TARGET_NEW_PER_SECOND = 20_000


@dataclass(frozen=True)
class Topic:
    name: str
    events: int


def fill(broker: KafkaBroker, events: int, flow_count: int) -> Topic:
    name = f"flood-{events}-{uuid.uuid4().hex[:6]}"
    asyncio.run(broker.create_topic(name, partitions=3))
    count, seconds = produce(broker.bootstrap, name,
                             flows.events(events, flow_count, run=name))
    progress(f"produced {count:,} events over {flow_count} flows to {name} in {seconds:.1f} s "
             f"({rate(count, seconds)}, confluent-kafka producer)")
    return Topic(name, count)


def _median(runs: list[Measured]) -> Measured:
    middle = statistics.median_low([m.seconds for m in runs])
    return next(m for m in runs if m.seconds == middle)


def broker_limit(report: Report, broker: KafkaBroker, postgres: PostgresServer, out: Path, *,
                 events: int, flow_count: int, new_flows: int, repeats: int, profile: bool,
                 consumers: int = 1) -> None:
    flood = fill(broker, events, flow_count)
    fresh = fill(broker, new_flows, new_flows)

    def run(mode: str, topic: Topic, url: str | None = None, profile_to: Path | None = None,
            max_records: int | None = None, processes: int = 1) -> Measured:
        progress(f"ingest: {mode}{' on ' + url.split(':')[0] if url else ''} over "
                 f"{topic.events:,} events" + (f", {max_records} per batch" if max_records else "")
                 + (f", {processes} processes" if processes > 1 else ""))
        return measure(mode, bootstrap=broker.bootstrap, topic=topic.name, events=topic.events,
                       database_url=url, profile=profile_to, max_records=max_records,
                       processes=processes)

    def databases() -> list[tuple[str, str]]:
        database = out / f"ingest-{uuid.uuid4().hex[:6]}.db"
        return [("SQLite", f"sqlite+aiosqlite:///{database}"),
                ("PostgreSQL", postgres.create_database(f"ingest_{uuid.uuid4().hex[:8]}"))]

    confluent = _median([run("raw-confluent", flood) for _ in range(repeats)])
    # The baseline is aiokafka at its best: its default batch size or the larger one.
    by_batch = {size: _median([run("raw-aiokafka", flood, max_records=size)
                               for _ in range(repeats)]) for size in BATCH_SIZES}
    best_batch, aiokafka = max(by_batch.items(), key=lambda item: item[1].rate)
    service = {name: run("service", flood, url, processes=consumers)
               for name, url in databases()}
    created = {name: run("service", fresh, url, processes=consumers)
               for name, url in databases()}
    _remove_all(out, "ingest-")
    base = aiokafka.rate
    label = f"{flood.events:,} events / {flow_count:,} flows, samples' severity mix"
    report.add("1", f"(a) raw confluent-kafka consume ({label})",
               f"{rate(confluent.events, confluent.seconds)} ({confluent.rate / base:.2f}× "
               "aiokafka)")
    for size, measured in by_batch.items():
        report.add("1", f"(a) raw aiokafka consume, {size} records per getmany",
                   f"{rate(measured.events, measured.seconds)} ({measured.rate / base:.2f}×, "
                   f"{measured.cpu_seconds / measured.events * 1e6:.1f} µs CPU/event)"
                   + (" ← baseline" if size == best_batch else ""))
    shape = f", {consumers} processes" if consumers > 1 else ""
    for name, measured in service.items():
        ratio = measured.rate / base
        report.add("1", f"(a) service ingest on {name}{shape} (validate, dedup, store, commit)",
                   f"{rate(measured.events, measured.seconds)} ({ratio:.2f}× aiokafka, "
                   f"{measured.seconds:.1f} s, {1e6 / measured.rate:.1f} µs/event, "
                   f"{measured.cpu_seconds / measured.events * 1e6:.1f} µs CPU/event)",
                   f"≥ {TARGET_RATIO:.2f}×", ratio >= TARGET_RATIO)
        for index, (seconds, cpu, count) in enumerate(measured.members, 1):
            report.add("1", f"    process {index} of {consumers} on {name}",
                       f"{count:,} events, {rate(count, seconds)}, "
                       f"{cpu / max(count, 1) * 1e6:.1f} µs CPU/event")
    for name, measured in created.items():
        report.add("1", f"(c) all-new-flows stream on {name}{shape}: {fresh.events:,} events, "
                   "each a new flow (row + audit entry)",
                   f"{rate(measured.events, measured.seconds, unit='new anomalies/s')} "
                   f"({measured.seconds:.2f} s)", f"≥ {TARGET_NEW_PER_SECOND:,}/s",
                   measured.rate >= TARGET_NEW_PER_SECOND)
    floor = cpu_floor(flow_count)
    report.add("1", "CPU floor in one process: orjson.loads / parse_event / + fingerprint / "
               "fast decoder / + fingerprint memory",
               " / ".join(f"{us:.1f} µs" for us in floor)
               + f" (aiokafka baseline: {1e6 / base:.1f} µs/event)")
    if profile:
        target = out / "profile-sqlite.txt"
        database = out / f"profile-{uuid.uuid4().hex[:6]}.db"
        run("service", flood, f"sqlite+aiosqlite:///{database}", profile_to=target)
        _remove(database)
        report.notes.append(f"pyinstrument profile of the SQLite ingest: {target} (+ .html)")


def growth(report: Report, broker: KafkaBroker, out: Path, *, sizes: list[int],
           flow_count: int) -> None:
    topics = [fill(broker, size, flow_count) for size in sizes]
    results: list[Measured] = []
    for topic in topics:
        database = out / f"growth-{topic.events}-{uuid.uuid4().hex[:6]}.db"
        progress(f"growth: service ingest of {topic.events:,} events on SQLite, own process")
        measured = measure("service", bootstrap=broker.bootstrap, topic=topic.name,
                           events=topic.events, database_url=f"sqlite+aiosqlite:///{database}")
        _remove(database)
        results.append(measured)
        report.add("4", f"{topic.events:>9,} events: time, µs/event, peak RSS",
                   f"{measured.seconds:.1f} s, {1e6 / measured.rate:.0f} µs, "
                   f"{measured.peak_rss_mb:.0f} MB", f"RSS < {TARGET_RSS_MB:.0f} MB",
                   measured.peak_rss_mb < TARGET_RSS_MB)
    for before, after in itertools.pairwise(results):
        report.add("4", f"{before.events:,} → {after.events:,} events: time grows",
                   f"×{after.seconds / before.seconds:.1f} for ×{after.events / before.events:.0f}",
                   "≈ linear")
    report.add("4", "peak RSS, smallest → largest",
               f"{results[0].peak_rss_mb:.0f} → {results[-1].peak_rss_mb:.0f} MB", "flat")


def cpu_floor(flow_count: int, sample: int = 20_000, repeats: int = 5) -> tuple[float, ...]:
    """Per-event µs of the pure steps no ingest can skip, timed in this process (CPU time,
    best of ``repeats``): decoding, validating with the reference parser (parse_event,
    which decodes too), plus fingerprinting; the consumer's fast decoder, plus its
    fingerprint memory."""
    values = list(flows.events(sample, flow_count, run="floor"))
    decoder, fingerprints = EventDecoder(), Fingerprints()

    def per_event(step: Callable[[bytes], object]) -> float:
        best = math.inf
        for _ in range(repeats):
            started = time.process_time()
            for value in values:
                step(value)
            best = min(best, time.process_time() - started)
        return best / sample * 1e6

    return (per_event(orjson.loads), per_event(parse_event),
            per_event(lambda value: fingerprint(parse_event(value))), per_event(decoder),
            per_event(lambda value: fingerprints(decoder(value))))


def _remove_all(out: Path, prefix: str) -> None:
    for path in out.glob(prefix + "*.db*"):
        path.unlink()


def _remove(database: Path) -> None:
    """A measured SQLite file and its WAL: results are in the table, not in the data."""
    for path in database.parent.glob(database.name + "*"):
        path.unlink()
