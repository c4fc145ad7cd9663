"""The coverage index answers "does an approved ClientIntents already allow this flow?" for
the documents the sinks write (document.py) and for ones people and tools write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chatbot.events.model import (
    FlowEvent,
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Target,
    Workload,
)
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.document import ApprovalNote, merge, target_entry

CHECKOUT = Workload(name="checkout", namespace="shop", kind="Deployment")
NOTE = ApprovalNote("a-1", "U024BE7LH", datetime(2026, 3, 1, tzinfo=UTC))
LEDGER = KubernetesTarget(name="ledger", namespace="billing", kind="StatefulSet", port=9090,
                          protocol="TCP")
LEDGER_SERVICE = KubernetesTarget(name="ledger", namespace="billing", kind="Service",
                                  port=80, protocol="TCP")
CART = KubernetesTarget(name="cart", namespace="shop", kind="Deployment", port=8080,
                        protocol="TCP", http=HttpCall("/v1/carts", "GET"))
ORDERS = KafkaTarget(name="kafka", namespace="streaming", topic="orders", operation="produce")
GITHUB = InternetTarget(domain="api.github.com", ip=None, port=443, protocol="TCP")
RESOLVER = InternetTarget(domain=None, ip="198.51.100.7", port=53, protocol="UDP")


def flow(target: Target, client: Workload = CHECKOUT, cluster: str = "prod") -> FlowEvent:
    return FlowEvent(event_id="e-1", observed_at=datetime(2026, 3, 1, tzinfo=UTC),
                     cluster=cluster, client=client, target=target)


def written(*targets: Target, client: Workload = CHECKOUT) -> dict[str, Any]:
    """The ClientIntents the sinks write after approving `targets` one by one."""
    document = None
    for target in targets:
        document = merge(document, client=client, entry=target_entry(client, target),
                         note=NOTE).document
    assert document is not None
    return document


def index_of(*documents: dict[str, Any]) -> CoverageIndex:
    index = CoverageIndex()
    index.replace_all((IntentRef(doc["metadata"]["namespace"], doc["metadata"]["name"]), doc)
                      for doc in documents)
    return index


@pytest.mark.parametrize("target", [LEDGER, LEDGER_SERVICE, CART, ORDERS, GITHUB, RESOLVER],
                         ids=["workload", "service", "http", "kafka", "domain", "ip"])
def test_an_approved_flow_is_covered_by_what_the_sink_wrote(target: Target) -> None:
    index = index_of(written(target))
    assert index.covering(flow(target)) == IntentRef("shop", "checkout")
    assert not index_of(written(GITHUB if target is not GITHUB else LEDGER)).covers(flow(target))


def test_another_client_or_cluster_is_not_covered() -> None:
    index = index_of(written(LEDGER))
    cart = Workload(name="cart", namespace="shop", kind="Deployment")
    assert not index.covers(flow(LEDGER, client=cart))
    elsewhere = Workload(name="checkout", namespace="staging", kind="Deployment")
    assert not index.covers(flow(LEDGER, client=elsewhere))
    pinned = CoverageIndex(cluster="prod")
    pinned.replace_all([(IntentRef("shop", "checkout"), written(LEDGER))])
    assert pinned.covers(flow(LEDGER)) and not pinned.covers(flow(LEDGER, cluster="dev"))


def test_a_workload_of_another_kind_is_not_the_same_client() -> None:
    index = index_of(written(LEDGER))
    assert not index.covers(flow(LEDGER, client=Workload("checkout", "shop", "StatefulSet")))


def test_in_cluster_targets_cover_every_port() -> None:
    index = index_of(written(LEDGER))
    other_port = KubernetesTarget(name="ledger", namespace="billing", kind="StatefulSet",
                                  port=5432, protocol="TCP")
    assert index.covers(flow(other_port))


def test_kinds_service_and_untyped_targets() -> None:
    untyped = _intents([{"kubernetes": {"name": "ledger.billing"}}])
    assert untyped.covers(flow(LEDGER)) and untyped.covers(flow(LEDGER_SERVICE))
    service = _intents([{"service": {"name": "ledger.billing"}}])
    assert service.covers(flow(LEDGER_SERVICE)) and not service.covers(flow(LEDGER))
    deployment = _intents([{"kubernetes": {"name": "ledger.billing", "kind": "Deployment"}}])
    assert not deployment.covers(flow(LEDGER)) and not deployment.covers(flow(LEDGER_SERVICE))


def test_http_rules_paths_and_methods() -> None:
    index = _intents([{"kubernetes": {"name": "cart", "http": [
        {"path": "/v1/carts", "methods": ["GET", "PUT"]},
        {"path": "/admin/*", "methods": []}]}}])

    def call(path: str, method: str) -> FlowEvent:
        return flow(KubernetesTarget("cart", "shop", "Deployment", 8080, "TCP",
                                     HttpCall(path, method)))

    assert index.covers(call("/v1/carts", "PUT"))
    assert not index.covers(call("/v1/carts", "DELETE"))
    assert index.covers(call("/admin/users", "DELETE"))
    assert not index.covers(call("/v2/carts", "GET"))
    layer4 = KubernetesTarget("cart", "shop", "Deployment", 8080, "TCP")
    assert index.covers(flow(layer4))


def test_kafka_topics_and_operations() -> None:
    index = _intents([{"kafka": {"name": "kafka.streaming", "topics": [
        {"name": "orders", "operations": ["consume"]},
        {"name": "audit", "operations": ["all"]}]}}])
    assert not index.covers(flow(ORDERS))
    assert index.covers(flow(KafkaTarget("kafka", "streaming", "orders", "consume")))
    assert index.covers(flow(KafkaTarget("kafka", "streaming", "audit", "produce")))
    assert _intents([{"kafka": {"name": "kafka.streaming"}}]).covers(flow(ORDERS))


def test_internet_wildcards_cidrs_and_ports() -> None:
    index = _intents([{"internet": {"domains": ["*.github.com"], "ports": [443]}},
                      {"internet": {"ips": ["198.51.100.0/24"]}}])
    assert index.covers(flow(GITHUB))
    assert not index.covers(flow(InternetTarget("api.github.com", None, 80, "TCP")))
    assert not index.covers(flow(InternetTarget("github.com.evil.example", None, 443, "TCP")))
    assert index.covers(flow(RESOLVER))
    assert not index.covers(flow(InternetTarget(None, "198.51.101.7", 53, "UDP")))


def test_v1alpha3_documents_are_read_like_their_v2_conversion() -> None:
    document = {
        "apiVersion": "k8s.otterize.com/v1alpha3", "kind": "ClientIntents",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"service": {"name": "checkout"}, "calls": [
            {"name": "ledger.billing"},
            {"name": "svc:ledger.billing"},
            {"name": "kafka.streaming", "type": "kafka",
             "kafkaTopics": [{"name": "orders", "operations": ["produce"]}]},
            {"name": "cart", "type": "http",
             "HTTPResources": [{"path": "/v1/carts", "methods": ["GET"]}]},
            {"type": "internet", "internet": {"domains": ["api.github.com"]}},
            {"name": "orders-db", "type": "database"},
        ]}}
    index = index_of(document)
    for target in (LEDGER, LEDGER_SERVICE, ORDERS, CART, GITHUB):
        assert index.covers(flow(target)), target


def test_changes_follow_upsert_and_remove_and_bump_the_generation() -> None:
    index = CoverageIndex()
    ref = IntentRef("shop", "checkout")
    before = index.generation
    assert not index.covers(flow(LEDGER))
    index.upsert(ref, written(LEDGER))
    assert index.covers(flow(LEDGER)) and index.generation > before
    index.upsert(ref, written(GITHUB))
    assert not index.covers(flow(LEDGER)) and index.covers(flow(GITHUB))
    index.remove(ref)
    assert not index.covers(flow(GITHUB)) and len(index) == 0


def test_malformed_documents_and_targets_grant_nothing_and_break_nothing() -> None:
    good = written(LEDGER)
    index = CoverageIndex()
    index.replace_all([
        (IntentRef("shop", "broken"), {"kind": "ClientIntents", "spec": "nope"}),
        (IntentRef("shop", "odd"), {"spec": {"workload": {"name": "checkout"}, "targets": [
            "text", {"kubernetes": "ledger"}, {"kubernetes": {}}, {"internet": {"ips": ["x"]}},
            {"kubernetes": {"name": "ledger.billing"}, "service": {"name": "y"}}]}}),
        (IntentRef("shop", "checkout"), good),
    ])
    assert index.covering(flow(LEDGER)) == IntentRef("shop", "checkout")
    assert not index.covers(flow(RESOLVER))


def _intents(targets: list[dict[str, Any]], workload: str = "checkout") -> CoverageIndex:
    return index_of({"apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
                     "metadata": {"name": workload, "namespace": "shop"},
                     "spec": {"workload": {"name": workload}, "targets": targets}})
