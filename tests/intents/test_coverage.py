"""The coverage index answers "does an approved ClientIntents already allow this flow?" for
the documents the sinks write (document.py) and for ones people and tools write."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
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
from chatbot.intents.shapes import NotIntents, read_intents

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


def _v1alpha3(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "k8s.otterize.com/v1alpha3", "kind": "ClientIntents",
            "metadata": {"name": "typo", "namespace": "shop"},
            "spec": {"service": {"name": "checkout"}, "calls": list(calls)}}


def _v2(*targets: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
            "metadata": {"name": "typo", "namespace": "shop"},
            "spec": {"workload": {"name": "checkout"}, "targets": list(targets)}}


# Each read as if the wrongly typed field were absent would allow the flow below (or raised).
WRONGLY_TYPED = [
    (_v1alpha3({"name": "kafka.streaming", "type": "kafka", "kafkaTopics": 5}), ORDERS,
     r"spec.calls\[0\].kafkaTopics is not a list of mappings"),
    (_v1alpha3({"name": "kafka.streaming", "type": "kafka", "kafkaTopics": ["orders"]}),
     ORDERS, r"spec.calls\[0\].kafkaTopics is not a list of mappings"),
    (_v1alpha3({"name": "cart", "type": ["http"]}), CART, r"spec.calls\[0\].type is not text"),
    (_v1alpha3({"name": "cart", "type": {"http": True}}), CART, "type is not text"),
    (_v1alpha3({"name": "cart", "type": "http", "HTTPResources": "/v1/carts"}), CART,
     r"spec.calls\[0\].HTTPResources is not a list of mappings"),
    (_v1alpha3({"name": "ledger.billing", "kind": ["Deployment"]}), LEDGER, "kind is not text"),
    (_v2({"kubernetes": {"name": "cart", "http": [{"path": 5}]}}), CART,
     r"spec.targets\[0\].kubernetes.http\[0\].path is not text"),
    (_v2({"kubernetes": {"name": "cart", "http": [{"path": "/v1", "methods": "GET"}]}}),
     KubernetesTarget(name="cart", namespace="shop", kind="Deployment", port=8080,
                      protocol="TCP", http=HttpCall("/v1", "DELETE")), "methods is not a list"),
    (_v2({"kafka": {"name": "kafka.streaming", "topics": "orders"}}), ORDERS,
     "topics is not a list of mappings"),
    (_v2({"internet": {"domains": ["api.github.com"], "ports": 443}}),
     InternetTarget("api.github.com", None, 80, "TCP"), "ports is not a list of numbers"),
    (_v2({"internet": {"domains": "api.github.com"}}), GITHUB, "domains is not a list of text"),
]


@pytest.mark.parametrize(("document", "target", "reason"), WRONGLY_TYPED, ids=[
    "kafkaTopics-number", "kafkaTopics-names", "type-list", "type-mapping", "HTTPResources-text",
    "call-kind-list", "http-path-number", "http-methods-text", "topics-text", "ports-number",
    "domains-text"])
def test_a_wrongly_typed_document_grants_nothing_and_says_why_once(
        document: dict[str, Any], target: Target, reason: str,
        caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(NotIntents, match=reason):
        read_intents(document)
    ref = IntentRef("shop", "typo")
    index = index_of(written(RESOLVER))
    index.upsert(ref, document)
    index.upsert(ref, document)
    assert not index.covers(flow(target)) and ref not in index.refs()
    assert index.covering(flow(RESOLVER)) == IntentRef("shop", "checkout")
    warnings = [record.getMessage() for record in caplog.records
                if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("ClientIntents shop/typo grants nothing")


class _Unreadable(Mapping[str, Any]):
    """A document whose every read fails in a way no shape check foresaw."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("the document cannot be read")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("the document cannot be read")

    def __len__(self) -> int:
        return 1


def test_a_document_that_fails_unexpectedly_grants_nothing_and_stops_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    ref = IntentRef("shop", "odd")
    index = index_of(written(LEDGER))
    index.upsert(ref, _Unreadable())
    index.replace_all([(ref, _Unreadable()), (IntentRef("shop", "checkout"), written(GITHUB))])
    assert ref not in index.refs() and index.covers(flow(GITHUB))
    assert [record.getMessage() for record in caplog.records] == [
        "ClientIntents shop/odd grants nothing: RuntimeError: the document cannot be read"]
    index.upsert(ref, written(LEDGER))
    assert index.covering(flow(LEDGER)) == ref


def _intents(targets: list[dict[str, Any]], workload: str = "checkout") -> CoverageIndex:
    return index_of({"apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
                     "metadata": {"name": workload, "namespace": "shop"},
                     "spec": {"workload": {"name": workload}, "targets": targets}})
