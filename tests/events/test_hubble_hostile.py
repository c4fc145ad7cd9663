"""Malformed and hostile Hubble records: every one is a BadEvent with a reason (for the
dead-letter header), never another exception and never an event. Real records from the
generator are cut and twisted; hand-written JSON appears only where the record is meant to be
broken in a way no Hubble encoder could produce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from chatbot.errors import BadEvent
from chatbot.events.hubble import MAX_RECORD_BYTES, HubbleOptions, map_record
from chatbot.events.hubble_fields import CACHE_LIMIT, remember
from chatbot.events.hubble_outcome import NeedsOwners, Skip
from chatbot.events.model import FlowEvent
from testbench.hubble_flows import hubble_line

OPTIONS = HubbleOptions()
CART = {"ns": "shop", "pod": "cart-7d9f8b6c4-x2x7k", "labels": {"app": "cart"},
        "workload": {"name": "cart", "kind": "Deployment"}}
LEDGER = {"ns": "billing", "pod": "ledger-0", "remote": False,
          "workload": {"name": "ledger", "kind": "StatefulSet"}}
BASE = {"src": CART, "dst": LEDGER, "dport": 9090,
        "http": {"method": "GET", "url": "http://ledger/v1/entries"}}


def rejected(raw: bytes) -> str:
    with pytest.raises(BadEvent) as raised:
        map_record(raw, options=OPTIONS)
    assert raised.value.reason
    return raised.value.reason


def generated(generator: Path, **changes: Any) -> bytes:
    return hubble_line({**BASE, **changes}, binary=generator)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"src": {**CART, "raw_labels": [f"k8s:team-{n}=x" for n in range(300)]}}, "over 256"),
    ({"src": {**CART, "labels": {f"team-{n}": "x" for n in range(80)}}}, "over 64 pod labels"),
    ({"src": {**CART, "labels": {"app": "<!channel>"}}}, "is not a Kubernetes label"),
    ({"src": {**CART, "raw_labels": ["no-source-prefix"]}}, "no source prefix"),
    ({"src": {**CART, "pod": "Cart_Pod!"}}, "not a DNS-1123 name"),
    ({"src": {**CART, "ns": "Shop Floor"}}, "not a DNS-1123 label"),
    ({"src": {**CART, "workload": {"name": "cart", "kind": "deployment!"}}},
     "not a Kubernetes kind"),
    ({"src": {**CART, "workload": {"name": "x" * 300, "kind": "Deployment"}}},
     "not a DNS-1123 name"),
    ({"src": {**CART, "cluster": "eu_west"}}, "not a DNS-1123 name"),
    ({"dst_service": {"name": "ledger api", "namespace": "billing"}},
     "not a Kubernetes Service"),
    ({"dst": {"reserved": "world"}, "dst_names": ["bad name.example"]}, "not a DNS name"),
    ({"http": {"method": "PROPFIND", "url": "http://ledger/x"}}, "no ClientIntents equivalent"),
    ({"http": {"method": "GET", "url": "http://ledger/a path"}}, "not a path"),
    ({"http": {"method": "GET", "url": "http://[::1/x"}}, "not a URL"),
    ({"dst": {"reserved": "world", "ip": "::"}, "extra": {"IP": {"destination": "nowhere"}}},
     "a world destination needs"),
], ids=["huge label list", "too many pod labels", "label value", "label without source",
        "pod name", "namespace", "workload kind", "workload name too long", "cluster name",
        "service name", "destination name", "http method", "http path", "http url",
        "world address"])
def test_hostile_values_in_real_records_are_bad_events(
        hubble_generator: Path, changes: dict[str, Any], reason: str) -> None:
    assert reason in rejected(generated(hubble_generator, **changes))


def test_a_record_cut_anywhere_is_a_bad_event(hubble_generator: Path) -> None:
    line = generated(hubble_generator)
    for end in range(0, len(line) - 1, 7):
        assert rejected(line[:end])


@pytest.mark.parametrize("value", [None, True, 7, -1, "x", [], [1], {}, {"a": 1}, 1.5])
def test_any_field_of_a_real_record_with_a_wrong_type_maps_or_is_a_bad_event(
        hubble_generator: Path, value: object) -> None:
    record = orjson.loads(generated(hubble_generator))
    for path in _paths(record):
        twisted = _replaced(record, path, value)
        assert isinstance(_outcome_or_reason(orjson.dumps(twisted)),
                          FlowEvent | NeedsOwners | Skip | str), path


def test_deeply_nested_values_anywhere_are_bad_events_or_ignored(hubble_generator: Path) -> None:
    record = orjson.loads(generated(hubble_generator))
    deep = b"[" * 300 + b'"x"' + b"]" * 300  # deeper than orjson writes back
    for path in _paths(record):
        raw = orjson.dumps(_replaced(record, path, "PLACEHOLDER"))
        outcome = _outcome_or_reason(raw.replace(b'"PLACEHOLDER"', deep))
        assert isinstance(outcome, FlowEvent | NeedsOwners | Skip | str), path


def test_an_address_too_long_to_remember_is_a_bad_event(hubble_generator: Path) -> None:
    raw = generated(hubble_generator, extra={"IP": {"source": "1" * 5000}})
    assert "'flow.IP.source' is not an IP address" in rejected(raw)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "malformed JSON"),
    (b"\xff\xfe{}", "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"flow"', "must be a JSON object"),
    (b'{"hello": "world"}', "not a Hubble record"),
    (b'{"flow": "FORWARDED"}', "field 'flow' must be an object"),
    (b'{"flow": {"verdict": "FORWARDED"}}', "missing field 'flow.time'"),
    (b'{"flow": {"time": 1772366400, "verdict": "FORWARDED"}}', "RFC 3339"),
    (b'{"flow": {"time": "2026-03-01T12:00:00", "verdict": "FORWARDED"}}', "time zone"),
    (b'{"flow": {"time": "2026-03-01T12:00:00Z", "verdict": 1}}', "'flow.verdict' must be"),
    (b'{"flow": {"time": "2026-03-01T12:00:00Z", "is_reply": "no"}}', "true or false"),
    (b'{"log": "{not json"}', "malformed JSON"),
    (b'{"message": "[1]"}', "not a Hubble record"),
], ids=["empty", "not utf-8", "array", "string", "other JSON", "flow not an object",
        "no time", "time a number", "time without zone", "verdict a number",
        "is_reply a string", "wrapped garbage", "wrapped array"])
def test_records_no_hubble_encoder_writes_are_bad_events(raw: bytes, reason: str) -> None:
    assert reason in rejected(raw)


def test_a_value_remembered_as_valid_does_not_vouch_for_a_hostile_neighbour(
        hubble_generator: Path) -> None:
    """Services, URLs and names are validated once and remembered (a flood repeats them);
    a record that shares part of a remembered value is still judged on all of it."""
    url = "http://ledger/v1/entries"
    good = [generated(hubble_generator, dst_service={"name": "ledger", "namespace": "billing"}),
            generated(hubble_generator, http={"method": "GET", "url": url})]
    for raw in good * 2:
        assert isinstance(map_record(raw, options=OPTIONS).outcome, FlowEvent)
    for _ in range(2):
        assert "not a Kubernetes Service" in rejected(generated(
            hubble_generator, dst_service={"name": "ledger", "namespace": "Billing Dept"}))
        assert "no ClientIntents equivalent" in rejected(generated(
            hubble_generator, http={"method": "PROPFIND", "url": url}))


def test_the_memos_of_validated_values_stay_bounded() -> None:
    memo: dict[int, int] = {}
    for value in range(CACHE_LIMIT * 3 + 5):
        assert remember(memo, value, value) == value
        assert len(memo) <= CACHE_LIMIT
    assert memo == {value: value for value in range(CACHE_LIMIT * 3, CACHE_LIMIT * 3 + 5)}


def test_an_oversize_record_is_refused_before_it_is_parsed() -> None:
    raw = b'{"flow": {"Summary": "' + b"x" * MAX_RECORD_BYTES + b'"}}'
    assert "over the" in rejected(raw)


def test_wrong_types_in_the_fields_that_matter_name_the_field(hubble_generator: Path) -> None:
    record = orjson.loads(generated(hubble_generator))
    for path, name in [(("flow", "source"), "'flow.source' must be an object"),
                       (("flow", "source", "labels"), "'flow.source.labels' must be a list"),
                       (("flow", "l4", "TCP", "destination_port"), "destination_port"),
                       (("flow", "destination", "workloads"), "'flow.destination.workloads'"),
                       (("flow", "l7", "http"), "'flow.l7.http' must be an object")]:
        assert name in rejected(orjson.dumps(_replaced(record, path, "oops")))


def _outcome_or_reason(raw: bytes) -> object:
    try:
        return map_record(raw, options=OPTIONS).outcome
    except BadEvent as error:
        return error.reason


def _paths(doc: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found.append((*prefix, index))
            found += _paths(value, (*prefix, index))
    return found


def _replaced(doc: Any, path: tuple[Any, ...], value: object) -> Any:
    copy = orjson.loads(orjson.dumps(doc))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy
