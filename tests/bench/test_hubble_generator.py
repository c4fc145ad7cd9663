"""The bench's Hubble generator writes what Hubble writes: encoding/json over Cilium's
protojson (proto field names, enum names, 64-bit integers as strings, HTML-escaped), in the
exporter's and ``hubble observe``'s shapes; specs it cannot honour fail loudly."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from testbench import hubble_build
from testbench.hubble_flows import Format, hubble_line, hubble_lines
from testbench.process import BenchError

SPEC = {"src": {"ns": "shop", "pod": "cart-0", "workload": {"name": "cart", "kind": "StatefulSet"}},
        "dst": {"ns": "billing", "pod": "ledger-0"}, "dport": 9090,
        "http": {"method": "GET", "url": "http://ledger/v1?a=1&b=<2>"}}


def test_a_built_generator_is_found_by_its_stamp(hubble_generator: Path) -> None:
    started = time.monotonic()
    assert hubble_build.install() == hubble_generator
    assert time.monotonic() - started < 1.0
    assert f"cilium-{hubble_build.CILIUM_VERSION}-" in str(hubble_generator)


def test_the_exporter_shape_and_hubbles_encoding(hubble_generator: Path) -> None:
    line = hubble_line(SPEC, binary=hubble_generator)
    record = orjson.loads(line)
    assert list(record) == ["flow", "node_name", "time"]
    flow = record["flow"]
    assert flow["verdict"] == "FORWARDED" and flow["Type"] == "L7"
    assert flow["l4"] == {"TCP": {"source_port": 32768, "destination_port": 9090}}
    assert flow["source"]["workloads"] == [{"name": "cart", "kind": "StatefulSet"}]
    assert "workloads" not in flow["destination"]  # remote: Hubble knows no workloads
    assert "k8s:io.kubernetes.pod.namespace=shop" in flow["source"]["labels"]
    # encoding/json escapes HTML characters in what MarshalJSON returned.
    assert b"a=1\\u0026b=\\u003c2\\u003e" in line and b" " not in line.split(b'"Summary"')[0]


def test_observe_shapes(hubble_generator: Path) -> None:
    jsonpb, legacy = (orjson.loads(hubble_line(SPEC, format=fmt, binary=hubble_generator))
                      for fmt in (Format.OBSERVE_JSON, Format.OBSERVE_JSON_LEGACY))
    exporter = orjson.loads(hubble_line(SPEC, binary=hubble_generator))
    assert jsonpb == exporter and legacy == exporter["flow"]


def test_records_that_are_not_flows(hubble_generator: Path) -> None:
    lost, agent = (orjson.loads(line) for line in hubble_lines(
        [{"record": "lost_events"}, {"record": "agent_event"}], binary=hubble_generator))
    assert lost["lost_events"]["num_events_lost"] == "3"  # uint64 -> string in protojson
    assert agent["agent_event"]["type"] == "AGENT_STARTED"


@pytest.mark.parametrize(("spec", "message"), [
    ({"verdict": "ALLOWED"}, 'verdict "ALLOWED" is not a name in flow.proto'),
    ({"src": {"ns": "a", "pod": "b", "podname": "c"}}, 'unknown field "podname"'),
    ({"extra": {"no_such_field": 1}}, "extra"),
    ({"src": {"reserved": "galaxy"}}, "not a reserved identity"),
])
def test_a_spec_it_cannot_honour_fails_loudly(
        hubble_generator: Path, spec: dict[str, object], message: str) -> None:
    full = {"src": {"ns": "a", "pod": "b"}, "dst": {"ns": "c", "pod": "d"}, **spec}
    with pytest.raises(BenchError, match=message):
        hubble_line(full, binary=hubble_generator)
