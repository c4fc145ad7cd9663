"""parse_event: a valid event of each target type becomes a FlowEvent; anything else raises
BadEvent whose reason names the problem, so the dead-letter header tells a person what to fix."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from chatbot.errors import BadEvent
from chatbot.events.model import (
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Workload,
)
from chatbot.events.parse import parse_event
from chatbot.events.wire import MAX_EVENT_BYTES
from tests.events.samples import (
    Doc,
    dropped,
    edited,
    encoded,
    internet_event,
    kafka_event,
    kubernetes_event,
)


def test_a_kubernetes_event_with_an_http_call_parses_to_every_field() -> None:
    event = parse_event(encoded(kubernetes_event("evt-1", severity="high", count=7,
                                                 reason="denied-by-policy")))

    assert event.event_id == "evt-1"
    assert event.observed_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert event.cluster == "prod-eu"
    assert event.client == Workload(name="checkout", namespace="shop", kind="Deployment")
    assert event.client.labels == {"app": "checkout"}
    assert event.target == KubernetesTarget(
        name="payments", namespace="billing", kind="Service", port=8443, protocol="TCP",
        http=HttpCall(path="/v1/charge", method="POST"))
    assert (event.reason, event.severity, event.count) == (
        Reason.DENIED_BY_POLICY, Severity.HIGH, 7)


def test_a_kafka_event_parses_to_a_kafka_target() -> None:
    event = parse_event(encoded(kafka_event()))

    assert event.target == KafkaTarget(name="kafka", namespace="streaming", topic="orders",
                                       operation="produce")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"type": "internet", "domain": "api.stripe.com", "port": 443, "protocol": "TCP"},
         InternetTarget(domain="api.stripe.com", ip=None, port=443, protocol="TCP")),
        ({"type": "internet", "ip": "10.0.0.0/8"},
         InternetTarget(domain=None, ip="10.0.0.0/8", port=None, protocol=None)),
        ({"type": "internet", "domain": "*.amazonaws.com", "ip": "2001:db8::1", "port": 443},
         InternetTarget(domain="*.amazonaws.com", ip="2001:db8::1", port=443, protocol=None)),
    ],
)
def test_an_internet_event_needs_a_domain_or_an_ip(target: Doc, expected: InternetTarget) -> None:
    event = parse_event(encoded(edited(internet_event(), "target", target)))

    assert event.target == expected


def test_an_upper_case_domain_is_accepted_and_stored_lower_case() -> None:
    event = parse_event(encoded(edited(internet_event(), "target.domain", "API.Stripe.com")))

    assert isinstance(event.target, InternetTarget)
    assert event.target.domain == "api.stripe.com"


def test_null_is_an_absent_field_and_a_whole_float_is_an_integer() -> None:
    doc = edited(edited(edited(BASE, "reason", None), "severity", None), "count", 3.0)
    doc = edited(edited(doc, "target.port", 8443.0), "target.kind", None)

    event = parse_event(encoded(doc))

    assert (event.reason, event.severity, event.count) == (Reason.NO_INTENT, Severity.MEDIUM, 3)
    assert isinstance(event.target, KubernetesTarget)
    assert (event.target.port, event.target.kind) == (8443, None)
    assert type(event.count) is int and type(event.target.port) is int


def test_optional_fields_take_their_defaults() -> None:
    minimal = kubernetes_event()
    for field in ("reason", "severity", "count", "client.labels", "target.kind", "target.port",
                  "target.protocol", "target.http"):
        minimal = dropped(minimal, field)

    event = parse_event(encoded(minimal))

    assert (event.reason, event.severity, event.count) == (Reason.NO_INTENT, Severity.MEDIUM, 1)
    assert event.client.labels == {}
    assert event.target == KubernetesTarget(name="payments", namespace="billing", kind=None,
                                            port=None, protocol=None, http=None)


def test_a_time_with_an_offset_is_kept_aware() -> None:
    event = parse_event(encoded(kubernetes_event(observed_at="2025-03-01T14:00:00+02:00")))

    assert event.observed_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_markup_in_an_http_path_is_valid_data_it_is_escaped_when_shown() -> None:
    event = parse_event(encoded(edited(kubernetes_event(), "target.http.path", "/<!channel>")))

    assert isinstance(event.target, KubernetesTarget)
    assert event.target.http == HttpCall(path="/<!channel>", method="POST")


BASE = kubernetes_event()

BAD_DOCUMENTS: list[tuple[str, Doc | list[object], str]] = [
    ("not an object", [1, 2], "must be a JSON object"),
    ("version 2", edited(BASE, "schema_version", 2), "unsupported schema_version 2"),
    ("version as text", edited(BASE, "schema_version", "1"), "unsupported schema_version '1'"),
    ("version as bool", edited(BASE, "schema_version", True), "unsupported schema_version True"),
    ("no version", dropped(BASE, "schema_version"), "unsupported schema_version None"),
    ("no event id", dropped(BASE, "event_id"), "missing field 'event_id'"),
    ("event id null", edited(BASE, "event_id", None), "missing field 'event_id'"),
    ("client name null", edited(BASE, "client.name", None), "missing field 'client.name'"),
    ("event id too long", edited(BASE, "event_id", "e" * 129), "field 'event_id'"),
    ("event id with space", edited(BASE, "event_id", "a b"), "field 'event_id'"),
    ("no time", dropped(BASE, "observed_at"), "missing field 'observed_at'"),
    ("time without zone", edited(BASE, "observed_at", "2025-03-01T12:00:00"), "time zone"),
    ("time not a time", edited(BASE, "observed_at", "yesterday"), "not an RFC 3339 time"),
    ("cluster upper case", edited(BASE, "cluster", "Prod"), "field 'cluster' is 'Prod'"),
    ("no client", dropped(BASE, "client"), "missing field 'client'"),
    ("client not object", edited(BASE, "client", "checkout"), "field 'client' must be an object"),
    ("no client name", dropped(BASE, "client.name"), "missing field 'client.name'"),
    ("client name a number", edited(BASE, "client.name", 42),
     "field 'client.name' must be a string"),
    ("client name markup", edited(BASE, "client.name", "<!channel>"),
     "field 'client.name' is '<!channel>', not a DNS-1123 name"),
    ("namespace underscore", edited(BASE, "client.namespace", "my_ns"),
     "field 'client.namespace' is 'my_ns', not a DNS-1123 label"),
    ("namespace too long", edited(BASE, "client.namespace", "n" * 64), "client.namespace"),
    ("kind lower case", edited(BASE, "client.kind", "deployment"), "field 'client.kind'"),
    ("labels a list", edited(BASE, "client.labels", ["a"]), "'client.labels' must be an object"),
    ("label key bad", edited(BASE, "client.labels", {"-x": "y"}), "label key '-x'"),
    ("label value bad", edited(BASE, "client.labels", {"app": "a b"}), "invalid value"),
    ("label value number", edited(BASE, "client.labels", {"app": 1}), "invalid value"),
    ("no target", dropped(BASE, "target"), "missing field 'target'"),
    ("target type pod", edited(BASE, "target.type", "pod"), "'target.type' must be one of"),
    ("no target name", dropped(BASE, "target.name"), "missing field 'target.name'"),
    ("port too big", edited(BASE, "target.port", 70000), "'target.port' must be an integer"),
    ("port as text", edited(BASE, "target.port", "443"), "'target.port' must be an integer"),
    ("protocol HTTP", edited(BASE, "target.protocol", "HTTP"), "'target.protocol'"),
    ("http a string", edited(BASE, "target.http", "/x"), "'target.http' must be an object"),
    ("path relative", edited(BASE, "target.http.path", "v1"), "'target.http.path'"),
    ("path with space", edited(BASE, "target.http.path", "/a b"), "'target.http.path'"),
    ("method FETCH", edited(BASE, "target.http.method", "FETCH"), "'target.http.method'"),
    ("kafka field on kubernetes", edited(BASE, "target.topic", "orders"),
     "unknown field 'target.topic'"),
    ("kafka bad topic", edited(kafka_event(), "target.topic", "a topic"), "'target.topic'"),
    ("kafka bad operation", edited(kafka_event(), "target.operation", "read"),
     "'target.operation'"),
    ("internet neither", dropped(dropped(internet_event(), "target.domain"), "target.ip"),
     "needs 'target.domain' or 'target.ip'"),
    ("internet bad ip", edited(internet_event(), "target.ip", "999.1.1.1"), "'target.ip'"),
    ("internet bad domain", edited(internet_event(), "target.domain", "a..b"),
     "'target.domain'"),
    ("unknown top field", edited(BASE, "extra", 1), "unknown field 'extra'"),
    ("reason unknown", edited(BASE, "reason", "because"), "field 'reason' must be one of"),
    ("severity unknown", edited(BASE, "severity", "urgent"), "field 'severity' must be one of"),
    ("count zero", edited(BASE, "count", 0), "field 'count' must be an integer"),
    ("count bool", edited(BASE, "count", True), "field 'count' must be an integer"),
    ("count a fraction", edited(BASE, "count", 2.5), "field 'count' must be an integer"),
    ("time with a space", edited(BASE, "observed_at", "2025-03-01 12:00:00Z"),
     "not an RFC 3339 time"),
    ("time in basic form", edited(BASE, "observed_at", "20250301T120000Z"),
     "not an RFC 3339 time"),
    ("time offset without colon", edited(BASE, "observed_at", "2025-03-01T12:00:00+0200"),
     "not an RFC 3339 time"),
    ("time on 30 February", edited(BASE, "observed_at", "2025-02-30T12:00:00Z"),
     "not an RFC 3339 time"),
    ("event id ends in a newline", edited(BASE, "event_id", "evt-1\n"), "field 'event_id'"),
    ("label key with an empty prefix", edited(BASE, "client.labels", {"/app": "x"}),
     "label key '/app'"),
    ("label key prefix over 253", edited(BASE, "client.labels", {("a" * 60 + ".") * 5 + "/x": ""}),
     "not a valid label key"),
    ("domain with a Kelvin sign", edited(internet_event(), "target.domain", "\u212a8s.io"),
     "'target.domain'"),
    ("ip with a zone id", edited(internet_event(), "target.ip", "fe80::1%eth0"), "'target.ip'"),
    ("ip with a netmask", edited(internet_event(), "target.ip", "10.0.0.0/255.0.0.0"),
     "'target.ip'"),
    ("internet with null domain and no ip",
     dropped(edited(internet_event(), "target.domain", None), "target.ip"),
     "needs 'target.domain' or 'target.ip'"),
]


@pytest.mark.parametrize(("doc", "reason"), [case[1:] for case in BAD_DOCUMENTS],
                         ids=[case[0] for case in BAD_DOCUMENTS])
def test_a_bad_document_is_rejected_with_a_reason(doc: Doc | list[object], reason: str) -> None:
    with pytest.raises(BadEvent) as raised:
        parse_event(orjson.dumps(doc))

    assert reason in raised.value.reason


RAW_CASES = [
    (b"{not json", "malformed JSON"),
    (b"", "malformed JSON"),
    (b'{"schema_version": 1,', "malformed JSON"),
    (b"\xff\xfe{}", "not valid UTF-8"),
    (encoded(BASE)[:-1] + b'"\xc3\x28"}', "not valid UTF-8"),
    (encoded(BASE).replace(b'"checkout"', b'"\xc3\x28"', 1), "not valid UTF-8"),
    (b" " * (MAX_EVENT_BYTES + 1), f"over the {MAX_EVENT_BYTES}-byte limit"),
]


@pytest.mark.parametrize(
    ("raw", "reason"), RAW_CASES,
    ids=["malformed", "empty", "truncated", "binary", "bad utf-8 inside",
         "bad utf-8 in the client", "oversize"],
)
def test_bytes_that_are_not_a_json_document_are_rejected(raw: bytes, reason: str) -> None:
    with pytest.raises(BadEvent) as raised:
        parse_event(raw)

    assert reason in raised.value.reason


def test_an_oversize_event_is_refused_before_it_is_decoded() -> None:
    padded = edited(BASE, "client.labels", {f"k{i}": "v" * 60 for i in range(2000)})

    with pytest.raises(BadEvent, match="byte limit"):
        parse_event(encoded(padded))


def test_the_reason_shows_a_long_offending_value_shortened() -> None:
    with pytest.raises(BadEvent) as raised:
        parse_event(encoded(edited(BASE, "cluster", "X" * 500)))

    assert len(raised.value.reason) < 150


def test_a_service_account_is_context_not_identity() -> None:
    doc = kubernetes_event()
    doc["client"]["service_account"] = "checkout-sa"
    event = parse_event(orjson.dumps(doc))
    assert event.client.service_account == "checkout-sa"
    del doc["client"]["service_account"]
    assert parse_event(orjson.dumps(doc)).client == event.client  # the same workload
    doc["client"]["service_account"] = "Not_A_Name"
    with pytest.raises(BadEvent, match=r"client\.service_account"):
        parse_event(orjson.dumps(doc))
