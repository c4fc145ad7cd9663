"""Stage 7: a Hubble flood through the flows topic, against raw aiokafka on the same records in
the same run, and the service's memory as the flood grows to a million records.

The flood (bench/hubble_flood.py): ``records`` exporter lines from the bench's generator over
``distinct`` flows, nine in ten already covered by ClientIntents loaded into the coverage
index, two records per connection (one a first sighting, one skipped as a duplicate or a
reply). Every figure is a child process reading the topic with a fresh consumer group: raw
aiokafka at three batch sizes (the fastest is the baseline), the service's path on SQLite and
on PostgreSQL (bench/hubble_worker.py), then the service alone over the larger topic with its
RSS noted as the records stored pass each checkpoint.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.hubble_flood import (
    Expected,
    Flood,
    covered,
    expected,
    intents,
)
from bench.hubble_worker import NoOwners, coverage_index
from bench.ingest import BATCH_SIZES, TARGET_RATIO
from bench.produce import produce
from bench.report import Report, progress, rate
from bench.workers import Measured, measure, run_worker
from chatbot.events.hubble import HubbleOptions
from chatbot.events.hubble_dedup import ConnectionDedup
from chatbot.pipeline.collector import collector_tuned
from chatbot.sensors.hubble_intake import HubbleIntake
from testbench.kafka import KafkaBroker
from testbench.postgres import PostgresServer

SECTION = "7"
CHECKPOINTS = (100_000, 250_000, 500_000, 1_000_000)
FLAT = 1.10
"""RSS growth from the first checkpoint to the last that still counts as flat."""


@dataclass(frozen=True)
class Topic:
    name: str
    records: int


@dataclass
class ServiceRun:
    database: str
    measured: Measured
    counts: dict[str, Any]
    checkpoints: list[tuple[int, float, float, int]] = field(default_factory=list)
    """Records stored, RSS MB, peak RSS MB, connections the dedup remembers."""

    @property
    def skipped(self) -> int:
        return sum(int(count) for count in self.counts["skipped"].values())


@dataclass
class HubbleResult:
    """What the stage saw, for the report and for tests/bench/test_hubble_bench.py."""

    expected: Expected
    record_bytes: float = 0.0
    runs: list[ServiceRun] = field(default_factory=list)
    growth: ServiceRun | None = None


def fill(broker: KafkaBroker, flood: Flood, records: int, *, run: int) -> Topic:
    name = f"hubble-{records}-{uuid.uuid4().hex[:6]}"
    asyncio.run(broker.create_topic(name, partitions=3))
    count, seconds = produce(broker.bootstrap, name, flood.records(records, run=run))
    progress(f"produced {count:,} Hubble records over {flood.distinct:,} flows to {name} in "
             f"{seconds:.1f} s (exporter lines, confluent-kafka producer)")
    return Topic(name, count)


def flood_stage(report: Report, broker: KafkaBroker, postgres: PostgresServer, out: Path, *,
                records: int, distinct: int, growth_records: int, repeats: int,
                checkpoints: Sequence[int] = CHECKPOINTS,
                profile: Path | None = None) -> HubbleResult:
    flood = Flood(distinct)
    sample = list(flood.records(min(records, 1000)))
    result = HubbleResult(expected=expected(records, distinct),
                          record_bytes=sum(map(len, sample)) / len(sample))
    topic = fill(broker, flood, records, run=1)
    anomalies = f"{topic.name}-anomalies"  # the service reads its (empty) anomaly topic too
    asyncio.run(broker.create_topic(anomalies))
    by_batch = {size: _median([_raw(broker, topic, size) for _ in range(repeats)])
                for size in BATCH_SIZES}
    best, baseline = max(by_batch.items(), key=lambda item: item[1].rate)
    database = out / f"hubble-{uuid.uuid4().hex[:6]}.db"
    urls = [("SQLite", f"sqlite+aiosqlite:///{database}"),
            ("PostgreSQL", postgres.create_database(f"hubble_{uuid.uuid4().hex[:8]}"))]
    for name, url in urls:
        result.runs.append(_service(broker, topic, anomalies, name, url, distinct=distinct,
                                    profile=profile if name == "SQLite" else None))
    _remove(database)
    _report_flood(report, result, flood, by_batch, best, baseline)
    floor = cpu_floor(flood, sample=min(records, 20_000))
    report.add(SECTION, "CPU floor in one process, per record: orjson.loads / the intake "
               "(map, connection dedup, coverage)", " / ".join(f"{us:.1f} µs" for us in floor)
               + f" (aiokafka baseline: {baseline.cpu_seconds / baseline.events * 1e6:.1f} "
               "µs CPU/record)")
    if growth_records:
        result.growth = growth(report, broker, out, flood, records=growth_records,
                               checkpoints=[c for c in checkpoints if c <= growth_records])
    return result


def growth(report: Report, broker: KafkaBroker, out: Path, flood: Flood, *, records: int,
           checkpoints: Sequence[int]) -> ServiceRun:
    topic = fill(broker, flood, records, run=2)
    anomalies = f"{topic.name}-anomalies"
    asyncio.run(broker.create_topic(anomalies))
    database = out / f"hubble-growth-{uuid.uuid4().hex[:6]}.db"
    run = _service(broker, topic, anomalies, "SQLite", f"sqlite+aiosqlite:///{database}",
                   distinct=flood.distinct, checkpoints=checkpoints)
    _remove(database)
    marks = run.checkpoints
    for stored, rss, hwm, remembered in marks:
        report.add(SECTION, f"growth on SQLite: RSS after {stored:>9,} records stored",
                   f"{rss:.0f} MB (peak {hwm:.0f} MB; the dedup remembers {remembered:,} "
                   "connections)")
    if len(marks) >= 2:
        first, last = marks[0], marks[-1]
        ratio = last[1] / first[1]
        # Freed memory stays with the process: compare with the dedup at its fullest.
        remembered = max(mark[3] for mark in marks) - first[3]
        per_connection = ((last[1] - first[1]) * 2**20 / remembered if remembered > 0
                          else math.nan)
        report.add(SECTION, f"growth: RSS {first[0]:,} → {last[0]:,} records",
                   f"×{ratio:.2f} ({first[1]:.0f} → {last[1]:.0f} MB: {per_connection:,.0f} "
                   "bytes per connection the dedup remembered more at its fullest)",
                   f"≤ ×{FLAT:.2f} (flat)", ratio <= FLAT)
    expected_growth = expected(records, flood.distinct)
    report.add(SECTION, f"growth: {records:,} records came to covered / uncovered / skipped "
               "/ cards", _came_to(run), _expected_text(expected_growth),
               _consistent(run, expected_growth))
    return run


def cpu_floor(flood: Flood, sample: int = 20_000, repeats: int = 3) -> tuple[float, float]:
    """Per-record µs of the steps no Hubble ingest can skip (CPU time, best of ``repeats``):
    decoding the JSON, and the whole intake of a batch (a fresh connection dedup each time,
    so every run sees first sightings)."""
    values = list(flood.records(sample, run=3))
    index = coverage_index(flood.distinct)

    def timed(step: Callable[[], object]) -> float:
        best = math.inf
        with collector_tuned():  # as around the consume loop
            for _ in range(repeats):
                started = time.process_time()
                step()
                best = min(best, time.process_time() - started)
        return best / sample * 1e6

    def decode() -> None:
        for value in values:
            orjson.loads(value)

    async def intake() -> None:
        # Returns nothing: a task's large result is formatted by asyncio (measured: 10 µs
        # a record of repr, which is no part of the service's work).
        reader = HubbleIntake(options=HubbleOptions(), dedup=ConnectionDedup(),
                              owners=NoOwners(), coverage=index)
        await reader.read(values)

    return timed(decode), timed(lambda: asyncio.run(intake()))


def _raw(broker: KafkaBroker, topic: Topic, size: int) -> Measured:
    progress(f"hubble: raw aiokafka over {topic.records:,} records, {size} per getmany")
    return measure("raw-aiokafka", bootstrap=broker.bootstrap, topic=topic.name,
                   events=topic.records, max_records=size)


def _service(broker: KafkaBroker, topic: Topic, anomalies: str, name: str, url: str, *,
             distinct: int, checkpoints: Sequence[int] = (),
             profile: Path | None = None) -> ServiceRun:
    progress(f"hubble: service over {topic.records:,} records on {name}")
    arguments = ["--bootstrap", broker.bootstrap, "--topic", topic.name, "--anomaly-topic",
                 anomalies, "--records", str(topic.records), "--flows", str(distinct),
                 "--database-url", url]
    arguments += [argument for mark in checkpoints
                  for argument in ("--checkpoint", str(mark))]
    if profile is not None:
        arguments += ["--profile", str(profile)]
    raw = run_worker(arguments, module="bench.hubble_worker")
    measured = Measured(mode="service-hubble", events=int(raw["records"]),
                        seconds=float(raw["seconds"]), peak_rss_mb=float(raw["vmhwm_mb"]),
                        cpu_seconds=float(raw["cpu_seconds"]))
    counts = {key: raw[key] for key in ("covered", "uncovered", "skipped", "new_anomalies",
                                        "bad")}
    return ServiceRun(database=name, measured=measured, counts=counts,
                      checkpoints=[(int(s), float(r), float(h), int(c)) for s, r, h, c in
                                   raw["checkpoints"]])


def _report_flood(report: Report, result: HubbleResult, flood: Flood,
                  by_batch: dict[int, Measured], best: int, baseline: Measured) -> None:
    plan = result.expected
    uncovered = sum(not covered(flow) for flow in range(flood.distinct))
    report.add(SECTION, "Hubble flood: records / distinct flows / connections",
               f"{plan.records:,} / {flood.distinct:,} / {plan.connections:,} (exporter "
               f"lines of {result.record_bytes:,.0f} bytes on average; "
               f"{flood.distinct - uncovered:,} flows covered by "
               f"{len(intents(flood.distinct))} ClientIntents, {uncovered:,} not)")
    base = baseline.rate
    for size, measured in by_batch.items():
        report.add(SECTION, f"raw aiokafka consume, {size} records per getmany",
                   f"{rate(measured.events, measured.seconds, unit='rec/s')} "
                   f"({measured.rate / base:.2f}×, "
                   f"{measured.cpu_seconds / measured.events * 1e6:.1f} µs CPU/record)"
                   + (" ← baseline" if size == best else ""))
    for run in result.runs:
        measured = run.measured
        ratio = measured.rate / base
        report.add(SECTION, f"service, flows topic on {run.database} (map, dedup, coverage, "
                   "store, commit)",
                   f"{rate(measured.events, measured.seconds, unit='rec/s')} ({ratio:.2f}× "
                   f"aiokafka, {measured.seconds:.1f} s, {1e6 / measured.rate:.1f} µs/record, "
                   f"{measured.cpu_seconds / measured.events * 1e6:.1f} µs CPU/record, peak "
                   f"RSS {measured.peak_rss_mb:.0f} MB)",
                   f"≥ {TARGET_RATIO:.2f}×", ratio >= TARGET_RATIO)
        report.add(SECTION, f"    on {run.database}: covered / uncovered / skipped / cards "
                   "(new anomalies)", _came_to(run), _expected_text(plan),
                   _consistent(run, plan))


def _came_to(run: ServiceRun) -> str:
    counts = run.counts
    skipped = ", ".join(f"{reason} {count:,}" for reason, count in
                        sorted(counts["skipped"].items()))
    return (f"{counts['covered']:,} / {counts['uncovered']:,} / {run.skipped:,} ({skipped}) / "
            f"{counts['new_anomalies']:,}" + (f", {counts['bad']:,} bad" if counts["bad"]
                                               else ""))


def _expected_text(plan: Expected) -> str:
    return f"= {plan.covered:,} / {plan.uncovered:,} / {plan.skipped:,} / {plan.cards:,}"


def _consistent(run: ServiceRun, plan: Expected) -> bool:
    counts = run.counts
    return (run.measured.events == plan.records and counts["covered"] == plan.covered
            and counts["uncovered"] == plan.uncovered and run.skipped == plan.skipped
            and counts["new_anomalies"] == plan.cards and counts["bad"] == 0)


def _median(runs: list[Measured]) -> Measured:
    middle = statistics.median_low([m.seconds for m in runs])
    return next(m for m in runs if m.seconds == middle)


def _remove(database: Path) -> None:
    for path in database.parent.glob(database.name + "*"):
        path.unlink()
