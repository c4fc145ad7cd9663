"""The flow fingerprint: one per connection, however it is sighted. Timing, counting, labels,
severity and reason describe a sighting and must not split a flow into two chat messages;
anything that names a different connection must."""

from __future__ import annotations

import pytest

from chatbot.events.fingerprint import fingerprint
from chatbot.events.parse import parse_event
from tests.events.samples import (
    Doc,
    dropped,
    edited,
    encoded,
    internet_event,
    kafka_event,
    kubernetes_event,
)


def fingerprint_of(doc: Doc) -> str:
    return fingerprint(parse_event(encoded(doc)))


BASE = kubernetes_event()


def test_a_fingerprint_is_a_short_stable_hex_id() -> None:
    first, again = fingerprint_of(BASE), fingerprint_of(kubernetes_event())

    assert first == again
    assert len(first) == 32
    assert int(first, 16) >= 0


@pytest.mark.parametrize(
    "sighting",
    [
        edited(BASE, "event_id", "another-id"),
        edited(BASE, "observed_at", "2030-12-31T23:59:59+05:00"),
        edited(BASE, "count", 500),
        edited(BASE, "severity", "critical"),
        edited(BASE, "reason", "new-connection"),
        edited(BASE, "client.labels", {"app": "checkout", "pod-template-hash": "5d9f"}),
        dropped(BASE, "client.labels"),
    ],
    ids=["event id", "time", "count", "severity", "reason", "labels", "no labels"],
)
def test_another_sighting_of_the_same_connection_has_the_same_fingerprint(sighting: Doc) -> None:
    assert fingerprint_of(sighting) == fingerprint_of(BASE)


@pytest.mark.parametrize(
    ("base", "connection"),
    [
        (BASE, edited(BASE, "cluster", "prod-us")),
        (BASE, edited(BASE, "client.name", "checkout-v2")),
        (BASE, edited(BASE, "client.namespace", "shop-staging")),
        (BASE, edited(BASE, "client.kind", "StatefulSet")),
        (BASE, edited(BASE, "target.name", "refunds")),
        (BASE, edited(BASE, "target.namespace", "billing-eu")),
        (BASE, edited(BASE, "target.port", 9443)),
        (BASE, dropped(BASE, "target.port")),
        (BASE, edited(BASE, "target.protocol", "UDP")),
        (BASE, edited(BASE, "target.http.path", "/v1/refund")),
        (BASE, edited(BASE, "target.http.method", "GET")),
        (BASE, dropped(BASE, "target.http")),
        (kafka_event(), edited(kafka_event(), "target.topic", "payments")),
        (kafka_event(), edited(kafka_event(), "target.operation", "consume")),
        (internet_event(), edited(internet_event(), "target.domain", "api.paypal.com")),
        (internet_event(), edited(internet_event(), "target.ip", "203.0.113.8")),
        (internet_event(), edited(internet_event(), "target.port", 8443)),
    ],
    ids=["cluster", "client name", "client namespace", "client kind", "target name",
         "target namespace", "port", "no port", "protocol", "http path", "http method",
         "no http", "kafka topic", "kafka operation", "domain", "ip", "internet port"],
)
def test_a_different_connection_has_a_different_fingerprint(base: Doc, connection: Doc) -> None:
    assert fingerprint_of(connection) != fingerprint_of(base)


def test_target_types_never_collide() -> None:
    prints = {fingerprint_of(kubernetes_event()), fingerprint_of(kafka_event()),
              fingerprint_of(internet_event())}

    assert len(prints) == 3
