"""Revoking one approval, pure: exactly what its merge added goes, nothing anyone else wrote
moves, and what other approvals in force still need stays — now recorded as theirs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chatbot.events.model import (
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Target,
    Workload,
)
from chatbot.intents.document import (
    ANOMALY_IDS,
    APPROVED_BY,
    ApprovalNote,
    Document,
    merge,
    target_entry,
)
from chatbot.intents.provenance import grant_key, read_grants
from chatbot.intents.removal import Keep, Removal, remove

CHECKOUT = Workload(name="checkout", namespace="shop", kind="Deployment")
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def note(anomaly_id: str, by: str = "U0ALICE", why: str | None = None) -> ApprovalNote:
    return ApprovalNote(anomaly_id, by, T0 + timedelta(minutes=len(anomaly_id)),
                        justification=why)


def service(name: str, http: HttpCall | None = None) -> KubernetesTarget:
    return KubernetesTarget(name=name, namespace="shop", kind="Service", port=8080,
                            protocol="TCP", http=http)


def approve(document: Document | None, target: Target, anomaly_id: str,
            by: str = "U0ALICE") -> Document:
    merged = merge(document, client=CHECKOUT, entry=target_entry(CHECKOUT, target),
                   note=note(anomaly_id, by))
    return merged.document


def revoke(document: Document, target: Target, anomaly_id: str,
           keep: Sequence[tuple[str, Target]] = ()) -> Removal:
    return remove(document, client=CHECKOUT, anomaly_id=anomaly_id,
                  entry=target_entry(CHECKOUT, target),
                  keep=[Keep(other, target_entry(CHECKOUT, t), note(other))
                        for other, t in keep])


def targets(document: Document) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["spec"]["targets"]
    return found


def someone_elses(*entries: dict[str, Any]) -> Document:
    return {"apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
            "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "7",
                         "annotations": {"team": "payments"}},
            "spec": {"workload": {"name": "checkout", "kind": "Deployment"},
                     "targets": list(entries)}}


def test_revoke_removes_exactly_the_target_it_added_and_keeps_a_hand_written_one() -> None:
    theirs = someone_elses({"service": {"name": "ledger"}})
    doc = approve(theirs, service("cart"), "a-1")

    removal = revoke(doc, service("cart"), "a-1")

    assert removal.changed and removal.recorded and not removal.still_allowed
    assert targets(removal.document) == [{"service": {"name": "ledger"}}]
    annotations = removal.document["metadata"]["annotations"]
    assert annotations == {"team": "payments"}  # no record of the revoked approval is left
    assert removal.document["metadata"]["resourceVersion"] == "7"  # the write's precondition
    assert removal.removed == ({"service": {"name": "cart"}},)


def test_revoking_a_target_the_bot_created_leaves_an_empty_list_not_everything() -> None:
    doc = approve(None, service("cart"), "a-1")
    removal = revoke(doc, service("cart"), "a-1")
    assert targets(removal.document) == []


def test_only_the_method_the_approval_added_goes_from_a_shared_path() -> None:
    theirs = someone_elses({"service": {"name": "ledger", "http": [
        {"path": "/entries", "methods": ["GET"]}]}})
    doc = approve(theirs, service("ledger", HttpCall("/entries", "POST")), "a-1")
    assert targets(doc) == [{"service": {"name": "ledger", "http": [
        {"path": "/entries", "methods": ["GET", "POST"]}]}}]

    removal = revoke(doc, service("ledger", HttpCall("/entries", "POST")), "a-1")

    assert targets(removal.document) == targets(theirs)


def test_the_last_call_of_an_entry_takes_the_entry_not_leaving_it_unrestricted() -> None:
    doc = approve(None, service("ledger", HttpCall("/entries", "POST")), "a-1")
    doc = approve(doc, service("ledger", HttpCall("/balance", "GET")), "a-2")

    doc = revoke(doc, service("ledger", HttpCall("/entries", "POST")), "a-1").document
    assert targets(doc) == [{"service": {"name": "ledger", "http": [
        {"path": "/balance", "methods": ["GET"]}]}}]
    doc = revoke(doc, service("ledger", HttpCall("/balance", "GET")), "a-2").document
    assert targets(doc) == []


def test_an_unrestricted_approval_revoked_puts_the_restriction_it_lifted_back() -> None:
    theirs = someone_elses({"kubernetes": {"name": "cart", "kind": "Deployment",
                                           "http": [{"path": "/items", "methods": ["GET"]}]}})
    cart = KubernetesTarget(name="cart", namespace="shop", kind="Deployment", port=80,
                            protocol="TCP")
    widened = approve(theirs, cart, "a-1")
    assert targets(widened) == [{"kubernetes": {"name": "cart", "kind": "Deployment"}}]

    assert targets(revoke(widened, cart, "a-1").document) == targets(theirs)


def test_kafka_operations_and_internet_addresses_go_one_by_one() -> None:
    def kafka(topic: str, operation: str) -> KafkaTarget:
        return KafkaTarget(name="kafka", namespace="infra", topic=topic, operation=operation)

    def internet(domain: str) -> InternetTarget:
        return InternetTarget(domain=domain, ip=None, port=443, protocol="TCP")

    doc = approve(None, kafka("orders", "produce"), "k-1")
    doc = approve(doc, kafka("orders", "consume"), "k-2")
    doc = approve(doc, internet("api.stripe.com"), "i-1")
    doc = approve(doc, internet("hooks.slack.com"), "i-2")

    doc = revoke(doc, kafka("orders", "produce"), "k-1").document
    doc = revoke(doc, internet("api.stripe.com"), "i-1").document

    assert targets(doc) == [
        {"kafka": {"name": "kafka.infra", "topics": [{"name": "orders",
                                                      "operations": ["consume"]}]}},
        {"internet": {"domains": ["hooks.slack.com"], "ports": [443]}},
    ]


def test_a_part_another_approval_in_force_needs_stays_and_becomes_theirs() -> None:
    # a-2 asked for the same entry (another port of the same service): its merge added
    # nothing, so revoking a-1 alone would silently take a-2's access.
    doc = approve(None, service("cart"), "a-1", by="U0ALICE")
    doc = approve(doc, KubernetesTarget(name="cart", namespace="shop", kind="Service",
                                        port=9090, protocol="TCP"), "a-2", by="U0BOB")
    assert set(read_grants(doc)) == {"a-1"}

    removal = revoke(doc, service("cart"), "a-1", keep=[("a-2", service("cart"))])

    assert removal.kept_for == ("a-2",) and removal.still_allowed
    assert targets(removal.document) == [{"service": {"name": "cart"}}]
    grants = read_grants(removal.document)
    assert set(grants) == {"a-2"} and grants["a-2"].added == ({"service": {"name": "cart"}},)
    # and revoking a-2 later really removes it
    later = revoke(removal.document, service("cart"), "a-2")
    assert targets(later.document) == []


def test_an_approval_the_object_already_allowed_removes_nothing_and_says_so() -> None:
    theirs = someone_elses({"service": {"name": "cart"}})
    doc = approve(theirs, service("cart"), "a-1")

    removal = revoke(doc, service("cart"), "a-1")

    assert not removal.changed and not removal.recorded and removal.still_allowed
    assert removal.document == theirs


def test_revoking_twice_is_harmless() -> None:
    doc = approve(None, service("cart"), "a-1")
    once = revoke(doc, service("cart"), "a-1").document
    twice = revoke(once, service("cart"), "a-1")
    assert not twice.changed and twice.document == once


def test_the_object_wide_annotations_name_the_newest_approval_still_in_force() -> None:
    doc = approve(None, service("cart"), "a-1", by="U0ALICE")
    doc = approve(doc, service("ledger"), "a-22", by="U0BOB")
    annotations = doc["metadata"]["annotations"]
    assert annotations[APPROVED_BY] == "U0BOB" and annotations[ANOMALY_IDS] == "a-1,a-22"

    doc = revoke(doc, service("ledger"), "a-22").document
    annotations = doc["metadata"]["annotations"]
    assert annotations[APPROVED_BY] == "U0ALICE" and annotations[ANOMALY_IDS] == "a-1"
    assert grant_key("a-22") not in annotations
    assert json.loads(annotations[grant_key("a-1")])["by"] == "U0ALICE"
