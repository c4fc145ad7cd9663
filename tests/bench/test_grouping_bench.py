"""The grouping benchmark (bench/grouping.py) on small floods through the real service:
with grouping off every distinct flow is one Slack message; with grouping on every client
workload is one message — two for a workload with more new flows than one card holds —
no hostile record reaches Slack, and the rows it prints say PASS."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import grouping, shapes
from bench.report import Report
from chatbot.card_group import MAX_ROWS
from testbench.kafka import KafkaBroker

pytestmark = pytest.mark.bench

CHANNELS = 5


def bots(broker: KafkaBroker, workdir: Path) -> grouping.BotFactory:
    return grouping.bots(broker=broker, workdir=workdir, channels=CHANNELS,
                         database_url=lambda name: f"sqlite+aiosqlite:///{workdir / name}.db")


async def test_the_hostile_shape_is_one_message_per_flow_off_and_per_workload_on(
        kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    shape = shapes.hostile(events=150, bad=150, workloads=10, paths=3, channels=CHANNELS,
                           seed=3)
    assert 10 < len(shape.flows) <= 30 and len(shape.per_workload) == 10
    report = Report(command="test")

    off, on = await grouping.measure(report, shape, "t", bots(kafka_broker, tmp_path),
                                     within=120)

    assert off.messages == off.distinct == off.flows_stored == len(shape.flows)
    assert on.messages == on.distinct == 10
    assert dict(on.per_workload) == dict.fromkeys(shape.per_workload, 1)
    assert off.dead_lettered == on.dead_lettered == 150
    assert off.events_stored == on.events_stored == 150
    assert report.rows and all(row.verdict != "FAIL" for row in report.rows)


async def test_a_workload_with_more_new_flows_than_a_card_holds_gets_a_second_message(
        kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    per_workload = MAX_ROWS + 4
    shape = shapes.rollout(flow_count=2 * per_workload, workloads=2, events=4 * per_workload,
                           channels=CHANNELS, run=f"split-{tmp_path.name}")
    report = Report(command="test")

    off, on = await grouping.measure(report, shape, "t", bots(kafka_broker, tmp_path),
                                     within=120)

    assert off.messages == 2 * per_workload
    assert dict(off.per_workload) == dict.fromkeys(shape.per_workload, per_workload)
    assert on.messages == on.distinct == 4
    assert dict(on.per_workload) == dict.fromkeys(shape.per_workload, 2)
    assert grouping.bound(shape, on) == 4
    assert all(row.verdict != "FAIL" for row in report.rows)
