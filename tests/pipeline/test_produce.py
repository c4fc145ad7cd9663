"""`chatbot produce`: every non-blank line becomes one record, keyed so a flow (or a
workload) stays on one partition; invalid lines are sent too, unkeyed, for the DLQ to see."""

from __future__ import annotations

import io
from pathlib import Path

from chatbot.cli_produce import produce, record_key
from chatbot.events.fingerprint import fingerprint
from chatbot.events.parse import parse_event
from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from tests.events.samples import edited, encoded, kubernetes_event
from tests.pipeline.kafka_io import read_topic


async def test_each_line_of_each_file_is_sent_as_one_keyed_record(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topic = await new_topic(partitions=3)
    good = [encoded(kubernetes_event(f"e-{n}")) for n in range(3)]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join([good[0], b"", b"not json", good[1]]) + b"\n")
    (tmp_path / "b.jsonl").write_bytes(good[2])
    report = io.StringIO()

    sent = await produce(kafka_broker.bootstrap, topic, [tmp_path / "a.jsonl",
                                                         str(tmp_path / "b.jsonl")],
                         progress_every=2, report=report)

    assert sent == 4
    received = await read_topic(kafka_broker.bootstrap, topic, 4)
    flow = fingerprint(parse_event(good[0])).encode()
    assert sorted(r.value or b"" for r in received) == sorted([*good, b"not json"])
    assert {r.key for r in received if r.value != b"not json"} == {flow}
    assert [r.key for r in received if r.value == b"not json"] == [None]
    assert len({r.partition for r in received if r.key == flow}) == 1
    assert report.getvalue().splitlines() == [f"produced 2 records to {topic}",
                                              f"produced 4 records to {topic}",
                                              f"produced 4 records to {topic}"]


def test_a_record_can_be_keyed_by_its_workload_even_when_it_is_invalid() -> None:
    invalid = encoded(edited(kubernetes_event(), "schema_version", 9))

    assert record_key(invalid, "workload") == b"shop/checkout"
    assert record_key(invalid, "fingerprint-or-none") is None
    assert record_key(encoded(kubernetes_event()), "none") is None
    assert record_key(b"[1, 2]", "workload") is None
    assert record_key(b'{"client": {"namespace": 1, "name": "x"}}', "workload") is None
