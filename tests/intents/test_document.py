"""The pure ClientIntents rules: what one approved flow adds, and what it never takes away."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
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
    APPROVED_AT,
    APPROVED_BY,
    MANAGED_BY_LABEL,
    MAX_ANOMALY_IDS_CHARS,
    ApprovalNote,
    Document,
    Merge,
    describes,
    merge,
    target_entry,
)
from chatbot.intents.provenance import grant_key

CHECKOUT = Workload(name="checkout", namespace="shop", kind="Deployment")
NOTE = ApprovalNote(anomaly_id="a-1", approved_by="U024BE7LH",
                    approved_at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC))


def workload(name: str, namespace: str = "shop", kind: str | None = "Deployment",
             http: HttpCall | None = None, port: int | None = 8080) -> KubernetesTarget:
    return KubernetesTarget(name=name, namespace=namespace, kind=kind, port=port,
                            protocol="TCP", http=http)


def approve(existing: Document | None, target: Target, note: ApprovalNote = NOTE) -> Merge:
    return merge(existing, client=CHECKOUT, entry=target_entry(CHECKOUT, target), note=note)


def targets(document: Document) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["spec"]["targets"]
    return found


def someone_elses(*entries: dict[str, Any]) -> Document:
    return {
        "apiVersion": "k8s.otterize.com/v2beta1",
        "kind": "ClientIntents",
        "metadata": {"name": "checkout-intents", "namespace": "shop", "resourceVersion": "42",
                     "annotations": {"team": "payments"}},
        "spec": {"workload": {"name": "checkout", "kind": "Deployment"}, "targets": list(entries)},
    }


# -- one target entry per flow -----------------------------------------------------------------

def test_namespace_suffix_only_across_namespaces() -> None:
    assert target_entry(CHECKOUT, workload("cart")) == {
        "kubernetes": {"name": "cart", "kind": "Deployment"}}
    assert target_entry(CHECKOUT, workload("payments", namespace="billing")) == {
        "kubernetes": {"name": "payments.billing", "kind": "Deployment"}}
    assert target_entry(CHECKOUT, workload("cart", kind=None)) == {"kubernetes": {"name": "cart"}}


def test_service_kind_becomes_a_service_entry() -> None:
    assert target_entry(CHECKOUT, workload("ledger", "billing", kind="Service")) == {
        "service": {"name": "ledger.billing"}}


def test_an_http_call_restricts_the_entry_to_its_path_and_method() -> None:
    assert target_entry(CHECKOUT, workload("ledger", kind="Service",
                                           http=HttpCall("/entries", "POST"))) == {
        "service": {"name": "ledger", "http": [{"path": "/entries", "methods": ["POST"]}]}}


def test_kafka_names_the_server_topic_and_operation() -> None:
    target = KafkaTarget(name="kafka", namespace="infra", topic="orders", operation="produce")
    assert target_entry(CHECKOUT, target) == {"kafka": {
        "name": "kafka.infra", "topics": [{"name": "orders", "operations": ["produce"]}]}}


def test_internet_ports_kept_in_cluster_ports_dropped() -> None:
    stripe = InternetTarget(domain="api.stripe.com", ip=None, port=443, protocol="TCP")
    assert target_entry(CHECKOUT, stripe) == {
        "internet": {"domains": ["api.stripe.com"], "ports": [443]}}
    assert "port" not in str(target_entry(CHECKOUT, workload("cart", port=8080)))
    by_ip = InternetTarget(domain=None, ip="203.0.113.7", port=None, protocol=None)
    assert target_entry(CHECKOUT, by_ip) == {"internet": {"ips": ["203.0.113.7"]}}


# -- a new object ------------------------------------------------------------------------------

def test_first_approval_creates_a_managed_object_named_after_the_workload() -> None:
    result = approve(None, workload("cart"))

    assert result.changed
    assert result.document == {
        "apiVersion": "k8s.otterize.com/v2beta1",
        "kind": "ClientIntents",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "labels": {MANAGED_BY_LABEL: "flow-approval-chatbot"},
            "annotations": {APPROVED_BY: "U024BE7LH", APPROVED_AT: "2025-03-01T12:30:00Z",
                            ANOMALY_IDS: "a-1", grant_key("a-1"): json.dumps({
                                "anomaly": "a-1", "by": "U024BE7LH",
                                "at": "2025-03-01T12:30:00Z",
                                "target": {"kubernetes": {"name": "cart", "kind": "Deployment"}},
                                "added": [{"kubernetes": {"name": "cart", "kind": "Deployment"}}],
                            }, separators=(",", ":"))},
        },
        "spec": {"workload": {"name": "checkout", "kind": "Deployment"},
                 "targets": [{"kubernetes": {"name": "cart", "kind": "Deployment"}}]},
    }


def test_approval_time_is_recorded_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    note = ApprovalNote("a-1", "U1", datetime(2025, 3, 1, 14, 30, tzinfo=paris))
    annotations = approve(None, workload("cart"), note).document["metadata"]["annotations"]
    assert annotations[APPROVED_AT] == "2025-03-01T12:30:00Z"


# -- merging into an existing object -----------------------------------------------------------

def test_a_second_flow_of_the_same_client_adds_a_target_to_the_same_object() -> None:
    first = approve(None, workload("cart")).document
    second = approve(first, workload("payments", "billing"),
                     ApprovalNote("a-2", "U999", NOTE.approved_at + timedelta(hours=1)))

    assert second.changed
    assert second.document["metadata"]["name"] == "checkout"
    assert targets(second.document) == [
        {"kubernetes": {"name": "cart", "kind": "Deployment"}},
        {"kubernetes": {"name": "payments.billing", "kind": "Deployment"}},
    ]
    annotations = second.document["metadata"]["annotations"]
    assert annotations[APPROVED_BY] == "U999"
    assert annotations[ANOMALY_IDS] == "a-1,a-2"


def test_a_target_written_by_someone_else_survives_in_its_place() -> None:
    theirs = someone_elses({"service": {"name": "ledger"}},
                           {"kafka": {"name": "kafka.infra", "topics": [{"name": "audit"}]}})

    result = approve(theirs, workload("cart"))

    assert targets(result.document) == [*targets(theirs), {"kubernetes": {
        "name": "cart", "kind": "Deployment"}}]
    metadata = result.document["metadata"]
    assert metadata["name"] == "checkout-intents"
    assert metadata["resourceVersion"] == "42"
    assert metadata["annotations"]["team"] == "payments"
    assert "labels" not in metadata  # we did not create it, so we do not claim it


def test_merge_never_mutates_its_input() -> None:
    theirs = someone_elses({"service": {"name": "ledger", "http": [{"path": "/a",
                                                                    "methods": ["GET"]}]}})
    before = copy.deepcopy(theirs)

    approve(theirs, workload("ledger", kind="Service", http=HttpCall("/a", "POST")))
    approve(theirs, workload("cart"))

    assert theirs == before


def test_identical_approval_is_unchanged() -> None:
    first = approve(None, workload("cart", http=HttpCall("/items", "GET"))).document

    again = approve(first, workload("cart", http=HttpCall("/items", "GET")),
                    ApprovalNote("a-2", "U2", NOTE.approved_at + timedelta(days=1)))

    assert not again.changed
    assert again.document == first


def test_a_suffix_naming_the_clients_own_namespace_is_the_same_target() -> None:
    theirs = someone_elses({"kubernetes": {"name": "cart.shop", "kind": "Deployment"}})
    assert not approve(theirs, workload("cart")).changed


def test_a_kindless_entry_matches_a_kinded_flow_of_the_same_name() -> None:
    theirs = someone_elses({"kubernetes": {"name": "cart"}})
    assert not approve(theirs, workload("cart", kind="StatefulSet")).changed


def test_same_name_in_another_namespace_is_another_target() -> None:
    first = approve(None, workload("cart")).document
    result = approve(first, workload("cart", namespace="staging"))
    assert [entry["kubernetes"]["name"] for entry in targets(result.document)] == [
        "cart", "cart.staging"]


def test_http_calls_merged_by_path() -> None:
    def ledger(path: str, method: str) -> KubernetesTarget:
        return workload("ledger", kind="Service", http=HttpCall(path, method))

    doc = approve(None, ledger("/entries", "GET")).document
    doc = approve(doc, ledger("/entries", "POST")).document
    doc = approve(doc, ledger("/balance", "GET")).document

    assert targets(doc) == [{"service": {"name": "ledger", "http": [
        {"path": "/entries", "methods": ["GET", "POST"]},
        {"path": "/balance", "methods": ["GET"]},
    ]}}]


def test_an_http_call_is_already_allowed_by_an_unrestricted_entry() -> None:
    theirs = someone_elses({"service": {"name": "ledger"}})
    assert not approve(theirs, workload("ledger", kind="Service",
                                        http=HttpCall("/entries", "POST"))).changed


def test_a_path_without_methods_already_allows_every_method() -> None:
    theirs = someone_elses({"service": {"name": "ledger", "http": [{"path": "/entries"}]}})
    assert not approve(theirs, workload("ledger", kind="Service",
                                        http=HttpCall("/entries", "DELETE"))).changed


def test_approving_all_calls_lifts_an_http_restriction() -> None:
    theirs = someone_elses({"kubernetes": {"name": "cart", "kind": "Deployment",
                                           "http": [{"path": "/items", "methods": ["GET"]}]}})

    result = approve(theirs, workload("cart"))

    assert result.changed
    assert targets(result.document) == [{"kubernetes": {"name": "cart", "kind": "Deployment"}}]


def test_kafka_topics_and_operations_are_united_per_server() -> None:
    def kafka(topic: str, operation: str) -> KafkaTarget:
        return KafkaTarget(name="kafka", namespace="infra", topic=topic, operation=operation)

    doc = approve(None, kafka("orders", "produce")).document
    doc = approve(doc, kafka("orders", "consume")).document
    doc = approve(doc, kafka("refunds", "consume")).document

    assert targets(doc) == [{"kafka": {"name": "kafka.infra", "topics": [
        {"name": "orders", "operations": ["produce", "consume"]},
        {"name": "refunds", "operations": ["consume"]},
    ]}}]
    assert not approve(doc, kafka("orders", "produce")).changed


def test_a_topic_with_operation_all_already_allows_the_flow() -> None:
    theirs = someone_elses({"kafka": {"name": "kafka.infra",
                                      "topics": [{"name": "orders", "operations": ["all"]}]}})
    target = KafkaTarget(name="kafka", namespace="infra", topic="orders", operation="describe")
    assert not approve(theirs, target).changed


def test_internet_destinations_join_an_entry_with_the_same_ports() -> None:
    def internet(domain: str, port: int | None) -> InternetTarget:
        return InternetTarget(domain=domain, ip=None, port=port, protocol="TCP")

    doc = approve(None, internet("api.stripe.com", 443)).document
    doc = approve(doc, internet("hooks.slack.com", 443)).document
    doc = approve(doc, internet("mirror.example.org", 80)).document

    assert targets(doc) == [
        {"internet": {"domains": ["api.stripe.com", "hooks.slack.com"], "ports": [443]}},
        {"internet": {"domains": ["mirror.example.org"], "ports": [80]}},
    ]
    assert not approve(doc, internet("hooks.slack.com", 443)).changed


def test_an_internet_entry_without_ports_already_allows_any_port() -> None:
    theirs = someone_elses({"internet": {"ips": ["203.0.113.7"]}})
    target = InternetTarget(domain=None, ip="203.0.113.7", port=8443, protocol="TCP")
    assert not approve(theirs, target).changed


def test_an_object_without_targets_gets_a_list() -> None:
    theirs = someone_elses()
    del theirs["spec"]["targets"]
    assert targets(approve(theirs, workload("cart")).document) == [
        {"kubernetes": {"name": "cart", "kind": "Deployment"}}]


def test_anomaly_ids_keep_the_newest_within_the_cap() -> None:
    doc = approve(None, workload("cart")).document
    for number in range(200):
        note = ApprovalNote(f"anomaly-{number:04}", "U1", NOTE.approved_at)
        doc = approve(doc, workload(f"svc-{number}"), note).document

    ids = doc["metadata"]["annotations"][ANOMALY_IDS]
    assert len(ids) <= MAX_ANOMALY_IDS_CHARS
    assert ids.endswith("anomaly-0198,anomaly-0199")
    assert "a-1," not in ids


def test_describes_matches_the_workload_by_spec_not_by_name() -> None:
    assert describes(someone_elses(), CHECKOUT)
    assert not describes(someone_elses(), Workload("checkout", "shop", "StatefulSet"))
    kindless = someone_elses()
    del kindless["spec"]["workload"]["kind"]
    assert describes(kindless, Workload("checkout", "shop", "StatefulSet"))
    assert not describes(someone_elses(), Workload("cart", "shop", "Deployment"))
