"""Stages 1 and 4: the service's ingest path against the broker's limit, and its growth.

Every measurement is a child process (bench/worker.py) reading the same topic with a fresh
consumer group, so the raw clients and the service see exactly the same records."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import flows
from bench.produce import produce
from bench.report import Report, progress, rate
from bench.workers import Measured, measure
from testbench.kafka import KafkaBroker
from testbench.postgres import PostgresServer

TARGET_RATIO = 0.5
TARGET_RSS_MB = 200.0


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
                 events: int, flow_count: int, repeats: int, profile: bool) -> None:
    topic = fill(broker, events, flow_count)

    def run(mode: str, url: str | None = None, profile_to: Path | None = None) -> Measured:
        progress(f"ingest: {mode}{' on ' + url.split(':')[0] if url else ''} over "
                 f"{topic.events:,} events")
        return measure(mode, bootstrap=broker.bootstrap, topic=topic.name, events=topic.events,
                       database_url=url, profile=profile_to)

    confluent = _median([run("raw-confluent") for _ in range(repeats)])
    aiokafka = _median([run("raw-aiokafka") for _ in range(repeats)])
    sqlite = run("service", f"sqlite+aiosqlite:///{out / f'ingest-{uuid.uuid4().hex[:6]}.db'}")
    pg = run("service", postgres.create_database(f"ingest_{uuid.uuid4().hex[:8]}"))
    base = aiokafka.rate
    label = f"{topic.events:,} events / {flow_count:,} flows"
    report.add("1", f"raw confluent-kafka consume ({label})",
               f"{rate(confluent.events, confluent.seconds)} ({confluent.rate / base:.2f}× "
               "aiokafka)")
    report.add("1", "raw aiokafka consume (same records, same batch size)",
               f"{rate(aiokafka.events, aiokafka.seconds)} (1.00×)")
    for name, measured in (("SQLite", sqlite), ("PostgreSQL", pg)):
        ratio = measured.rate / base
        report.add("1", f"service ingest on {name} (validate, fingerprint, dedup, commit)",
                   f"{rate(measured.events, measured.seconds)} ({ratio:.2f}× aiokafka, "
                   f"{measured.seconds:.1f} s, {1e6 / measured.rate:.0f} µs/event)",
                   f"≥ {TARGET_RATIO:.2f}×", ratio >= TARGET_RATIO)
    if profile:
        target = out / "profile-sqlite.txt"
        run("service", f"sqlite+aiosqlite:///{out / f'profile-{uuid.uuid4().hex[:6]}.db'}",
            profile_to=target)
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
        for path in database.parent.glob(database.name + "*"):
            path.unlink()
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
