"""One Hubble measurement in a process of its own (``python -m bench.hubble_worker …``): the
service's path for the flows topic, as ``chatbot serve`` wires it with
``CHATBOT_KAFKA_FLOWS_TOPIC`` (chatbot/sensors/wiring.py, chatbot/pipeline/wiring.py) — the
FlowConsumer over the anomaly topic and the flows topic, the flows read by HubbleRecords
through the intake (map → connection dedup → coverage), uncovered flows stored with their
offsets in one transaction. The coverage index is loaded with the flood's ClientIntents
before the first fetch, as a watch's first listing would.

Prints one JSON line: records, seconds and CPU seconds from the first fetched batch to the
last record stored, VmHWM, RSS and the dedup's size at each checkpoint, and what the records
came to (covered, skipped by reason, new anomalies, bad) from the service's own metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.flows import rules_yaml
from bench.hubble_flood import intents
from bench.worker import FirstFetch, kafka_settings, peak_rss_mb
from chatbot.clock import SystemClock
from chatbot.config.load import load_rules
from chatbot.events.hubble import HubbleOptions
from chatbot.events.hubble_dedup import ConnectionDedup
from chatbot.events.hubble_outcome import Owner, PodRef, SkipReason
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.metrics import Metrics
from chatbot.pipeline.batch import BatchReader, Decode
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.pipeline.wiring import flow_consumer
from chatbot.sensors.hubble_intake import HubbleIntake
from chatbot.sensors.hubble_records import HubbleRecords
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.migrate import upgrade

Checkpoint = tuple[int, float, float, int]
"""Records stored, VmRSS MB, VmHWM MB, connections the dedup remembers."""


class NoOwners:
    """The flood names every client's workload (see bench/hubble_flood.py): nothing to ask."""

    async def owners(self, pods: Iterable[PodRef]) -> Mapping[PodRef, Owner]:
        return {}


class Counted:
    """The flows reader with a count of the records of each stored batch: covered and skipped
    records make no event, so the consumer's ``on_stored`` never sees them."""

    def __init__(self, reader: BatchReader, *, on_stored: Callable[[int], None]) -> None:
        self._reader = reader
        self._on_stored = on_stored
        self._pending = 0

    async def prepare(self, values: Sequence[bytes]) -> Decode:
        self._pending = len(values)
        return await self._reader.prepare(values)

    def settle(self, *, stored: bool) -> None:
        self._reader.settle(stored=stored)
        if stored and self._pending:
            self._on_stored(self._pending)
        self._pending = 0


def memory_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process, in MB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("VmHWM", 0.0)


def coverage_index(distinct: int) -> CoverageIndex:
    index = CoverageIndex()
    index.replace_all((IntentRef(ns, name), document)
                      for (ns, name), document in intents(distinct))
    return index


async def service(*, bootstrap: str, topic: str, anomaly_topic: str, total: int,
                  distinct: int, database_url: str, checkpoints: Sequence[int]
                  ) -> dict[str, object]:
    settings = kafka_settings(bootstrap, anomaly_topic)
    engine = make_engine(database_url)
    await upgrade(engine)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as rules_file:
        rules_file.write(rules_yaml())
        rules_file.flush()
        rules = load_rules(Path(rules_file.name))
    metrics = Metrics()
    dedup = ConnectionDedup()
    intake = HubbleIntake(options=HubbleOptions(), dedup=dedup, owners=NoOwners(),
                          coverage=coverage_index(distinct))
    stored = 0
    marks: list[Checkpoint] = []
    due = sorted(checkpoints)
    done = asyncio.Event()
    finished = 0.0

    def on_records(count: int) -> None:
        nonlocal stored, finished
        stored += count
        while due and stored >= due[0]:
            due.pop(0)
            marks.append((stored, *memory_mb(), len(dedup)))
        if stored >= total and not done.is_set():
            finished = time.monotonic()
            done.set()

    reader = Counted(HubbleRecords(intake=intake, metrics=metrics), on_stored=on_records)
    kafka_consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    timed = FirstFetch(kafka_consumer)
    flow = flow_consumer(consumer=timed, producer=producer, settings=settings,
                         sessions=make_sessions(engine), rules=rules, clock=SystemClock(),
                         metrics=metrics, on_stored=lambda _result: None,
                         readers={topic: reader})
    await producer.start()
    await kafka_consumer.start()
    loop = asyncio.create_task(flow.run())
    try:
        await asyncio.wait_for(done.wait(), 1800)
        cpu = time.process_time()
        await flow.stop()
        await loop
    finally:
        await kafka_consumer.stop()
        await producer.stop()
        await engine.dispose()
    assert timed.first is not None
    return {"records": stored, "seconds": finished - timed.first,
            "cpu_seconds": cpu - timed.first_cpu, "checkpoints": marks,
            **_counts(metrics)}


def _counts(metrics: Metrics) -> dict[str, object]:
    registry = metrics.registry

    def value(name: str, **labels: str) -> int:
        return int(registry.get_sample_value(name, labels) or 0)

    skipped = {reason.value: value("hubble_flows_skipped_total", reason=reason.value)
               for reason in SkipReason}
    bad = sum(int(sample.value) for family in registry.collect()
              if family.name == "bad_events" for sample in family.samples
              if sample.name == "bad_events_total")
    return {"covered": value("flows_covered_total"),
            "uncovered": value("events_consumed_total"),
            "skipped": {reason: count for reason, count in skipped.items() if count},
            "new_anomalies": value("anomalies_detected_total"), "bad": bad}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hubble_worker")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True, help="the flows topic")
    parser.add_argument("--anomaly-topic", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--flows", type=int, required=True, help="distinct flows")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--checkpoint", type=int, action="append", default=[],
                        help="note RSS once this many records are stored (repeatable)")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    result = asyncio.run(service(
        bootstrap=args.bootstrap, topic=args.topic, anomaly_topic=args.anomaly_topic,
        total=args.records, distinct=args.flows, database_url=args.database_url,
        checkpoints=args.checkpoint))
    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_text(unicode=True, show_all=False))
        args.profile.with_suffix(".html").write_text(profiler.output_html())
    print(orjson.dumps({"mode": "service-hubble", "events": result["records"],
                        **result, "vmhwm_mb": peak_rss_mb()}).decode(), flush=True)


if __name__ == "__main__":
    main()
