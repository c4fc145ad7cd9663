"""Hubble records -> FlowEvent / Skip / NeedsOwners, on records encoded by Cilium's own types
(the bench's generator, testbench/hubble/), in all three shapes Hubble writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chatbot.events.hubble import HubbleOptions, map_record, read_flow
from chatbot.events.hubble_dedup import ConnectionDedup
from chatbot.events.hubble_outcome import NeedsOwners, Owner, PodRef, Skip, SkipReason
from chatbot.events.model import (
    FlowEvent,
    HttpCall,
    InternetTarget,
    KubernetesTarget,
    Reason,
    Workload,
)
from testbench.hubble_flows import Format, hubble_line, hubble_lines

OPTIONS = HubbleOptions()
CART = {"ns": "shop", "pod": "cart-7d9f8b6c4-x2x7k", "labels": {"app": "cart", "tier": "web"},
        "workload": {"name": "cart", "kind": "Deployment"}, "sa": "cart"}
LEDGER = {"ns": "billing", "pod": "ledger-0", "labels": {"app": "ledger"},
          "workload": {"name": "ledger", "kind": "StatefulSet"}}


def spec(**fields: Any) -> dict[str, Any]:
    """The client's node sees cart call ledger: egress, the destination on another node."""
    return {"src": CART, "dst": {**LEDGER, "remote": False}, "dport": 9090, **fields}


def mapped(generator: Path, flow: dict[str, Any], fmt: Format = Format.EXPORTER,
           options: HubbleOptions = OPTIONS) -> Any:
    return map_record(hubble_line(flow, format=fmt, binary=generator), options=options).outcome


def event(generator: Path, flow: dict[str, Any], **kwargs: Any) -> FlowEvent:
    outcome = mapped(generator, flow, **kwargs)
    assert isinstance(outcome, FlowEvent), outcome
    return outcome


def skipped(generator: Path, flow: dict[str, Any], **kwargs: Any) -> SkipReason:
    outcome = mapped(generator, flow, **kwargs)
    assert isinstance(outcome, Skip), outcome
    return outcome.reason


@pytest.mark.parametrize("fmt", list(Format))
def test_every_shape_hubble_writes_maps_to_the_same_event(
        hubble_generator: Path, fmt: Format) -> None:
    flow = spec(uuid="4b1c5a7e-0d2f-4e8a-9c3b-5f6e7d8c9b0a", time="2026-03-01T12:00:00.123456789Z")
    assert event(hubble_generator, flow, fmt=fmt) == FlowEvent(
        event_id="4b1c5a7e-0d2f-4e8a-9c3b-5f6e7d8c9b0a",
        observed_at=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        cluster="default",
        client=Workload(name="cart", namespace="shop", kind="Deployment"),
        target=KubernetesTarget(name="ledger", namespace="billing", kind="StatefulSet",
                                port=9090, protocol="TCP"),
        reason=Reason.NO_INTENT,
    )


def test_client_labels_lose_the_k8s_prefix_and_ciliums_own_labels(
        hubble_generator: Path) -> None:
    # The generator adds io.cilium.k8s.* and io.kubernetes.pod.namespace, as Cilium does.
    client = event(hubble_generator, spec()).client
    assert client.labels == {"app": "cart", "tier": "web"}


def test_the_cluster_name_comes_from_the_source(hubble_generator: Path) -> None:
    flow = spec(src={**CART, "cluster": "eu-west-1"}, dst={**LEDGER, "remote": False,
                                                            "cluster": "eu-west-1"})
    assert event(hubble_generator, flow).cluster == "eu-west-1"
    other = spec(src={**CART, "cluster": "eu-west-1"}, dst={**LEDGER, "cluster": "us-east-1"})
    assert skipped(hubble_generator, other) is SkipReason.DESTINATION_OTHER_CLUSTER


def test_a_destination_service_is_the_target(hubble_generator: Path) -> None:
    flow = spec(dst_service={"name": "ledger-api", "namespace": "billing"})
    assert event(hubble_generator, flow).target == KubernetesTarget(
        name="ledger-api", namespace="billing", kind="Service", port=9090, protocol="TCP")


@pytest.mark.parametrize("protocol", ["TCP", "UDP", "SCTP"])
def test_the_layer4_protocol_and_destination_port_are_kept(
        hubble_generator: Path, protocol: str) -> None:
    target = event(hubble_generator, spec(protocol=protocol, dport=5353)).target
    assert isinstance(target, KubernetesTarget)
    assert (target.port, target.protocol) == (5353, protocol)


@pytest.mark.parametrize("protocol", ["ICMPv4", "ICMPv6"])
def test_icmp_cannot_be_an_intent(hubble_generator: Path, protocol: str) -> None:
    assert skipped(hubble_generator, spec(protocol=protocol)) is SkipReason.PROTOCOL


def test_an_http_request_keeps_its_method_and_the_path_of_its_url(
        hubble_generator: Path) -> None:
    flow = spec(http={"method": "POST", "url": "http://ledger.billing:9090/v1/entries?a=1&b=<2>"})
    target = event(hubble_generator, flow).target
    assert isinstance(target, KubernetesTarget)
    assert target.http == HttpCall(path="/v1/entries", method="POST")


def test_an_http_response_is_a_reply(hubble_generator: Path) -> None:
    flow = spec(http={"method": "GET", "url": "http://ledger/x", "code": 200}, reply=True)
    assert skipped(hubble_generator, flow) is SkipReason.REPLY


def test_world_destinations_by_dns_name_else_by_address(hubble_generator: Path) -> None:
    named = spec(dst={"reserved": "world"}, dport=443, dst_names=["API.GitHub.com."])
    assert event(hubble_generator, named).target == InternetTarget(
        domain="api.github.com", ip=None, port=443, protocol="TCP")
    by_address = spec(dst={"reserved": "world", "ip": "198.51.100.7"}, dport=443)
    assert event(hubble_generator, by_address).target == InternetTarget(
        domain=None, ip="198.51.100.7", port=443, protocol="TCP")
    cidr_identity = spec(dst={"raw_labels": ["cidr:198.51.100.0/24", "reserved:world"],
                              "identity": 16777217, "ip": "198.51.100.8"}, dport=443)
    assert event(hubble_generator, cidr_identity).target == InternetTarget(
        domain=None, ip="198.51.100.8", port=443, protocol="TCP")


@pytest.mark.parametrize(("flow", "reason"), [
    ({"verdict": "FORWARDED"}, Reason.NO_INTENT),
    ({"verdict": "DROPPED", "drop_reason": "POLICY_DENIED"}, Reason.DENIED_BY_POLICY),
    ({"verdict": "DROPPED", "drop_reason": "POLICY_DENY"}, Reason.DENIED_BY_POLICY),
    ({"verdict": "AUDIT"}, Reason.WOULD_BE_DENIED),
], ids=["forwarded", "policy-denied", "deny-policy", "audit"])
def test_the_verdict_gives_the_reason(
        hubble_generator: Path, flow: dict[str, str], reason: Reason) -> None:
    assert event(hubble_generator, spec(**flow)).reason is reason


@pytest.mark.parametrize(("flow", "reason"), [
    ({"verdict": "DROPPED", "drop_reason": "CT_MAP_INSERTION_FAILED"},
     SkipReason.DROPPED_NOT_BY_POLICY),
    ({"verdict": "DROPPED", "drop_reason": "STALE_OR_UNROUTABLE_IP"},
     SkipReason.DROPPED_NOT_BY_POLICY),
    ({"verdict": "REDIRECTED"}, SkipReason.VERDICT),
    ({"verdict": "TRACED"}, SkipReason.VERDICT),
    ({"verdict": "ERROR"}, SkipReason.VERDICT),
    ({"verdict": "VERDICT_UNKNOWN"}, SkipReason.VERDICT),
])
def test_verdicts_that_are_not_about_access_are_skipped(
        hubble_generator: Path, flow: dict[str, str], reason: SkipReason) -> None:
    assert skipped(hubble_generator, spec(**flow)) is reason


def test_reply_flows_are_skipped(hubble_generator: Path) -> None:
    reply = {"src": {**LEDGER, "remote": False}, "dst": CART, "sport": 9090, "dport": 40000,
             "reply": True}
    assert skipped(hubble_generator, reply) is SkipReason.REPLY
    assert isinstance(mapped(hubble_generator, spec(reply=False)), FlowEvent)


@pytest.mark.parametrize(("source", "reason"), [
    ("host", SkipReason.SOURCE_HOST),
    ("remote-node", SkipReason.SOURCE_REMOTE_NODE),
    ("health", SkipReason.SOURCE_HEALTH),
    ("world", SkipReason.SOURCE_WORLD),
    ("ingress", SkipReason.SOURCE_OTHER),
    ("unmanaged", SkipReason.SOURCE_OTHER),
])
def test_sources_without_a_workload_identity_are_skipped(
        hubble_generator: Path, source: str, reason: SkipReason) -> None:
    flow = spec(src={"reserved": source}, direction="INGRESS", dst={**LEDGER, "remote": False})
    assert skipped(hubble_generator, flow) is reason


@pytest.mark.parametrize(("destination", "reason"), [
    ("host", SkipReason.DESTINATION_HOST),
    ("remote-node", SkipReason.DESTINATION_REMOTE_NODE),
    ("health", SkipReason.DESTINATION_HEALTH),
    ("kube-apiserver", SkipReason.DESTINATION_KUBE_APISERVER),
    ("init", SkipReason.DESTINATION_OTHER),
])
def test_destinations_without_a_workload_identity_are_skipped(
        hubble_generator: Path, destination: str, reason: SkipReason) -> None:
    assert skipped(hubble_generator, spec(dst={"reserved": destination})) is reason


KUBE_DNS = {"ns": "kube-system", "pod": "coredns-5d78c9869d-abcde",
            "labels": {"k8s-app": "kube-dns"}, "workload": {"name": "coredns",
                                                            "kind": "Deployment"}}


def test_kube_dns_queries_and_answers_are_skipped_unless_configured(
        hubble_generator: Path) -> None:
    query = spec(dst=KUBE_DNS, protocol="UDP", dport=53)
    via_service = spec(dst=KUBE_DNS, protocol="UDP", dport=53,
                       dst_service={"name": "kube-dns", "namespace": "kube-system"})
    proxied = spec(dst=KUBE_DNS, protocol="UDP", dport=53, dns={"query": "ledger.billing."})
    answer = {"src": {**KUBE_DNS, "remote": False}, "dst": CART, "protocol": "UDP",
              "sport": 53, "dport": 40000}  # its reply flag lost
    for flow in (query, via_service, proxied, answer):
        assert skipped(hubble_generator, flow) is SkipReason.DNS
    included = HubbleOptions(include_dns=True)
    local = spec(dst={**KUBE_DNS, "remote": False}, protocol="UDP", dport=53)
    target = event(hubble_generator, local, options=included).target
    assert target == KubernetesTarget(name="coredns", namespace="kube-system",
                                      kind="Deployment", port=53, protocol="UDP")


@pytest.mark.parametrize("record", ["lost_events", "agent_event"])
def test_records_that_are_not_flows_are_skipped(hubble_generator: Path, record: str) -> None:
    assert skipped(hubble_generator, {"record": record}) is SkipReason.NOT_A_FLOW


def test_a_shipper_wrapped_line_is_unwrapped(hubble_generator: Path) -> None:
    line = hubble_line(spec(), binary=hubble_generator).decode()
    for key in ("log", "message"):
        wrapped = f'{{"@timestamp": 1772366400.0, "{key}": {_json_string(line)}}}'.encode()
        assert isinstance(map_record(wrapped, options=OPTIONS).outcome, FlowEvent)


def _json_string(text: str) -> str:
    import orjson
    return orjson.dumps(text).decode()


def test_a_remote_destination_waits_for_its_owner(hubble_generator: Path) -> None:
    outcome = mapped(hubble_generator, {"src": CART, "dst": LEDGER, "dport": 9090})
    assert isinstance(outcome, NeedsOwners)
    assert outcome.pods() == (PodRef("billing", "ledger-0"),)
    done = outcome.complete({PodRef("billing", "ledger-0"): Owner("ledger", "StatefulSet")})
    assert isinstance(done, FlowEvent)
    assert done.target == KubernetesTarget(name="ledger", namespace="billing",
                                           kind="StatefulSet", port=9090, protocol="TCP")
    assert outcome.complete({}) == Skip(SkipReason.OWNER_UNKNOWN)


def test_at_the_servers_node_the_client_waits_for_its_owner(hubble_generator: Path) -> None:
    outcome = mapped(hubble_generator, {"src": CART, "dst": LEDGER, "dport": 9090,
                                        "direction": "INGRESS", "point": "TO_ENDPOINT"})
    assert isinstance(outcome, NeedsOwners)
    assert outcome.pods() == (PodRef("shop", "cart-7d9f8b6c4-x2x7k"),)
    done = outcome.complete({PodRef("shop", "cart-7d9f8b6c4-x2x7k"): Owner("cart",
                                                                          "Deployment")})
    assert isinstance(done, FlowEvent)
    assert done.client == Workload(name="cart", namespace="shop", kind="Deployment",
                                   labels={"app": "cart", "tier": "web"})
    assert done.client.labels == {"app": "cart", "tier": "web"}


def test_one_connection_seen_at_both_nodes_is_one_event(hubble_generator: Path) -> None:
    connection = {"src": CART, "dst": LEDGER, "dport": 9090, "sport": 41234}
    lines = hubble_lines([
        {**connection, "node": "worker-a", "direction": "EGRESS", "event": "policy-verdict"},
        {**connection, "node": "worker-a", "direction": "EGRESS", "point": "TO_OVERLAY"},
        {**connection, "node": "worker-b", "direction": "INGRESS", "point": "TO_ENDPOINT"},
        {**connection, "node": "worker-b", "direction": "INGRESS", "event": "policy-verdict"},
        {**connection, "sport": 41235},  # another connection, same flow: counts again
    ], binary=hubble_generator)
    seen = ConnectionDedup()
    outcomes = [read_flow(line, options=OPTIONS, seen=seen) for line in lines]
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "NeedsOwners", "Skip", "Skip", "Skip", "NeedsOwners"]
    assert {outcome.reason for outcome in outcomes if isinstance(outcome, Skip)} == {
        SkipReason.DUPLICATE}


def test_a_denial_at_the_servers_node_is_not_hidden_by_the_pass_at_the_clients(
        hubble_generator: Path) -> None:
    connection = {"src": CART, "dst": LEDGER, "dport": 9090, "sport": 41234}
    lines = hubble_lines([
        {**connection, "node": "worker-a"},
        {**connection, "node": "worker-b", "direction": "INGRESS", "verdict": "DROPPED",
         "drop_reason": "POLICY_DENIED"},
        {**connection, "node": "worker-a"},
    ], binary=hubble_generator)
    seen = ConnectionDedup()
    outcomes = [read_flow(line, options=OPTIONS, seen=seen) for line in lines]
    reasons = [outcome.event.reason if isinstance(outcome, NeedsOwners) else outcome
               for outcome in outcomes]
    assert reasons == [Reason.NO_INTENT, Reason.DENIED_BY_POLICY, Skip(SkipReason.DUPLICATE)]


def test_the_same_connection_after_the_window_counts_again(hubble_generator: Path) -> None:
    connection = spec(sport=41234)
    lines = hubble_lines([{**connection, "time": "2026-03-01T12:00:00Z"},
                          {**connection, "time": "2026-03-01T12:00:30Z"},
                          {**connection, "time": "2026-03-01T12:10:00Z"}],
                         binary=hubble_generator)
    seen = ConnectionDedup(window_seconds=120.0)
    kinds = [type(read_flow(line, options=OPTIONS, seen=seen)).__name__ for line in lines]
    assert kinds == ["FlowEvent", "Skip", "FlowEvent"]


def test_the_dedup_memory_is_bounded(hubble_generator: Path) -> None:
    lines = hubble_lines([spec(sport=20000 + index) for index in range(500)],
                         binary=hubble_generator)
    seen = ConnectionDedup(capacity=100)
    for line in lines:
        read_flow(line, options=OPTIONS, seen=seen)
    assert len(seen) == 100


def test_a_redelivered_record_keeps_its_event_id(hubble_generator: Path) -> None:
    line = hubble_line(spec(), binary=hubble_generator)
    first, again = (map_record(line, options=OPTIONS).outcome for _ in range(2))
    assert isinstance(first, FlowEvent) and isinstance(again, FlowEvent)
    assert first.event_id == again.event_id
    without_uuid = hubble_line(spec(uuid="not a uuid\n"), binary=hubble_generator)
    derived = map_record(without_uuid, options=OPTIONS).outcome
    assert isinstance(derived, FlowEvent) and derived.event_id.startswith("hubble-")


def test_a_batch_that_was_not_stored_is_judged_anew(hubble_generator: Path) -> None:
    """The consumer reads a failed batch again: its connections must be first sightings
    again, while what earlier, stored batches saw stays seen."""
    stored_line, failed_line = hubble_lines([spec(sport=41234), spec(sport=41235)],
                                            binary=hubble_generator)
    seen = ConnectionDedup(capacity=1)  # the failed batch also evicts the stored sighting
    assert isinstance(read_flow(stored_line, options=OPTIONS, seen=seen), FlowEvent)
    seen.commit()
    assert isinstance(read_flow(failed_line, options=OPTIONS, seen=seen), FlowEvent)
    seen.rollback()
    assert read_flow(stored_line, options=OPTIONS, seen=seen) == Skip(SkipReason.DUPLICATE)
    assert isinstance(read_flow(failed_line, options=OPTIONS, seen=seen), FlowEvent)
