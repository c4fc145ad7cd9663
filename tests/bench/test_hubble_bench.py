"""The Hubble flood benchmark (bench/hubble.py) on a tiny flood: its records are the
generator's own encoding, and what the service makes of them adds up — every record stored,
covered + uncovered = connections, one skip per connection, one card per uncovered flow. No
timing is asserted: the rates are the benchmark's to report, not a test's to judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.hubble import flood_stage
from bench.hubble_flood import Expected, Flood, FlowShape, covered, expected
from bench.report import Report
from testbench.hubble_flows import hubble_lines
from testbench.kafka import KafkaBroker
from testbench.postgres import PostgresServer

pytestmark = pytest.mark.bench


def test_the_flood_is_what_the_generator_writes_for_each_connection(
        hubble_generator: Path) -> None:
    flood = Flood(20, binary=hubble_generator)
    records = list(flood.records(1_000, run=7))
    # Every kind, both sightings, all three replicas, a later second and port.
    sample = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 40, 81, 122, 500, 999]
    assert {FlowShape(n // 2 % 20).kind for n in sample} == {"service", "http", "pod", "world"}
    specs = [flood.spec(number, run=7) for number in sample]
    assert hubble_lines(specs, binary=hubble_generator) == [records[n] for n in sample]
    assert len(set(records)) == len(records)


def test_nine_flows_in_ten_are_covered_spread_over_the_kinds() -> None:
    uncovered = [flow for flow in range(1_000) if not covered(flow)]
    assert len(uncovered) == 100
    assert {FlowShape(flow).kind for flow in uncovered} == {"service", "http", "pod", "world"}
    assert expected(200_000, 1_000) == Expected(
        records=200_000, connections=100_000, covered=90_000, uncovered=10_000,
        skipped=100_000, cards=100)


def test_a_tiny_flood_adds_up_on_both_databases_and_in_the_growth_run(
        kafka_broker: KafkaBroker, postgres_server: PostgresServer, hubble_generator: Path,
        tmp_path: Path) -> None:
    report = Report(command="test")
    result = flood_stage(report, kafka_broker, postgres_server, tmp_path, records=2_000,
                         distinct=20, growth_records=3_000, repeats=1,
                         checkpoints=(1_000, 2_000, 3_000))
    assert result.expected == Expected(records=2_000, connections=1_000, covered=900,
                                       uncovered=100, skipped=1_000, cards=2)
    assert [run.database for run in result.runs] == ["SQLite", "PostgreSQL"]
    for run in result.runs:
        assert run.measured.events == 2_000
        assert run.counts == {"covered": 900, "uncovered": 100, "new_anomalies": 2, "bad": 0,
                              "skipped": {"duplicate": 800, "reply": 200}}
    growth = result.growth
    assert growth is not None
    assert growth.counts == {"covered": 1_350, "uncovered": 150, "new_anomalies": 2, "bad": 0,
                             "skipped": {"duplicate": 1_200, "reply": 300}}
    assert [stored >= mark for (stored, *_), mark in
            zip(growth.checkpoints, (1_000, 2_000, 3_000), strict=True)] == [True] * 3
    # Two records per connection, each connection new: the dedup remembers one per connection.
    assert growth.checkpoints[-1][3] == 1_500
    verdicts = {row.measure: row.verdict for row in report.rows
                if "covered / uncovered / skipped" in row.measure}
    assert len(verdicts) == 3 and set(verdicts.values()) == {"PASS"}
