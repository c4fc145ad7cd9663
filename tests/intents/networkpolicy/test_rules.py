"""The pure translation of one approved flow into NetworkPolicy rules: exact peers (namespace AND
pods in one entry), exact ports, ipBlocks per IP, and a refusal for what cannot be said."""

from __future__ import annotations

import pytest

from chatbot.errors import PermanentError
from chatbot.events.model import HttpCall, InternetTarget, KafkaTarget, KubernetesTarget
from chatbot.intents.networkpolicy.podset import PodSet, selects
from chatbot.intents.networkpolicy.resolve import podset, service_port
from chatbot.intents.networkpolicy.rules import (
    ServerPort,
    grants,
    limits,
    opens,
    unexpressible,
)
from tests.intents.networkpolicy.flows import (
    CHECKOUT,
    CHECKOUT_PODS,
    PAYMENTS,
    PAYMENTS_PODS,
    STRIPE,
    by_direction,
    checkout_to_payments,
)


def test_an_in_cluster_flow_is_an_egress_rule_at_the_client_and_an_ingress_rule_at_the_server(
) -> None:
    found = by_direction(checkout_to_payments())

    assert found["egress"].pods == CHECKOUT_PODS
    assert found["egress"].peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "billing"}},
        "podSelector": {"matchLabels": {"app": "payments"}},
    }
    assert found["ingress"].pods == PAYMENTS_PODS
    assert found["ingress"].peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
        "podSelector": {"matchLabels": {"app": "checkout"}},
    }
    assert found["egress"].ports == found["ingress"].ports == ({"protocol": "TCP", "port": 8080},)
    assert found["ingress"].summary == "from shop/checkout on TCP 8080"
    assert found["egress"].summary == "to billing/payments on TCP 8080"


def test_match_expressions_of_a_selector_are_kept() -> None:
    client = PodSet("shop", "StatefulSet", "cart", {
        "matchLabels": {"app": "cart"},
        "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable"]}]})

    ingress = by_direction(checkout_to_payments(client=client))["ingress"]

    assert ingress.peer["podSelector"] == {
        "matchLabels": {"app": "cart"},
        "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable"]}]}


def test_a_flow_without_a_port_allows_every_port_of_its_protocol_and_says_so() -> None:
    unknown = KubernetesTarget(name="payments", namespace="billing", kind="Deployment",
                               port=None, protocol=None)
    tcp = by_direction(checkout_to_payments(port=None))["ingress"]
    anything = by_direction(grants(client=CHECKOUT_PODS, target=unknown, server=PAYMENTS_PODS,
                                   port=ServerPort(None, None)))["ingress"]

    assert tcp.ports == ({"protocol": "TCP"},)
    assert tcp.summary == "from shop/checkout on TCP any port"
    assert anything.ports == ()
    assert anything.summary == "from shop/checkout on every port"
    assert "the flow carried no port: every port is allowed" in limits(unknown)


def test_an_internet_ip_is_one_host_block_for_ipv4_and_ipv6() -> None:
    [v4] = grants(client=CHECKOUT_PODS, target=STRIPE, server=None, port=None)
    [v6] = grants(client=CHECKOUT_PODS, target=InternetTarget(
        domain=None, ip="2001:DB8::7", port=443, protocol="TCP"), server=None, port=None)

    assert (v4.direction, v4.pods) == ("egress", CHECKOUT_PODS)
    assert v4.peer == {"ipBlock": {"cidr": "203.0.113.7/32"}}
    assert v4.ports == ({"protocol": "TCP", "port": 443},)
    assert v6.peer == {"ipBlock": {"cidr": "2001:db8::7/128"}}


def test_a_domain_only_internet_target_is_refused_naming_the_limit() -> None:
    domain_only = InternetTarget(domain="api.stripe.com", ip=None, port=443, protocol="TCP")

    with pytest.raises(PermanentError) as refused:
        grants(client=CHECKOUT_PODS, target=domain_only, server=None, port=None)

    message = str(refused.value)
    assert message == unexpressible(domain_only)
    assert message.startswith("NetworkPolicy cannot name a domain: api.stripe.com")
    assert "carries none" in message


def test_a_domain_with_its_ip_writes_the_ip_and_says_the_domain_is_not_enforced() -> None:
    assert unexpressible(STRIPE) is None
    assert limits(STRIPE) == ["api.stripe.com is not enforced: only the IP 203.0.113.7 is "
                              "allowed, and the domain may move to other addresses"]


def test_what_networkpolicy_cannot_enforce_is_named() -> None:
    http = KubernetesTarget(name="payments", namespace="billing", kind="Service", port=80,
                            protocol="TCP", http=HttpCall("/charge", "POST"))
    kafka = KafkaTarget(name="kafka", namespace="infra", topic="orders", operation="produce")

    assert limits(http) == ["HTTP POST /charge is not enforced: NetworkPolicy allows the whole "
                            "port"]
    assert limits(kafka) == ["topic orders (produce) is not enforced: NetworkPolicy allows the "
                             "broker's port 9092 for every topic"]


SERVICE = {
    "metadata": {"name": "payments", "namespace": "billing"},
    "spec": {"selector": {"app": "payments"}, "ports": [
        {"name": "web", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "grpc", "port": 9000, "targetPort": "grpc", "protocol": "TCP"},
        {"name": "stats", "port": 8125, "targetPort": 8125, "protocol": "UDP"},
    ]},
}


@pytest.mark.parametrize(("flow", "lands_on"), [
    (ServerPort(80, "TCP"), 8080),
    (ServerPort(9000, None), "grpc"),
    (ServerPort(8080, "TCP"), 8080),  # a sensor that saw the pod's port after translation
    (ServerPort(8125, "UDP"), 8125),
    (ServerPort(None, "TCP"), None),
])
def test_a_service_port_leads_to_its_target_port(flow: ServerPort,
                                                 lands_on: int | str | None) -> None:
    assert service_port(SERVICE, flow) == lands_on


def test_a_port_the_service_does_not_have_is_refused_with_its_ports() -> None:
    with pytest.raises(PermanentError, match=r"Service billing/payments has no UDP port 80 "
                                             r"\(its UDP ports: 8125->8125\)"):
        service_port(SERVICE, ServerPort(80, "UDP"))


def test_a_service_selects_pods_by_its_selector() -> None:
    pods = podset("service", SERVICE)

    assert (pods.kind, pods.namespace, pods.name) == ("Service", "billing", "payments")
    assert pods.selector == {"matchLabels": {"app": "payments"}}


@pytest.mark.parametrize("found", [
    {"metadata": {"name": "legacy", "namespace": "billing"}, "spec": {"ports": []}},
    {"metadata": {"name": "debug", "namespace": "billing", "labels": {}}, "spec": {}},
], ids=["service-without-selector", "pod-without-labels"])
def test_something_a_policy_cannot_single_out_is_refused(found: dict[str, object]) -> None:
    kind = "Service" if "ports" in found["spec"] else "Pod"  # type: ignore[operator]
    with pytest.raises(PermanentError, match="a NetworkPolicy cannot single out its pods"):
        podset(kind, found)


@pytest.mark.parametrize(("selector", "chosen"), [
    ({}, True),
    ({"matchLabels": {"app": "payments"}}, True),
    ({"matchLabels": {"app": "fraud"}}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["api", "db"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["api"]}]}, False),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, True),
    ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, False),
])
def test_label_selectors_select_as_the_apiserver_does(selector: dict[str, object],
                                                      chosen: bool) -> None:
    assert selects(selector, {"app": "payments", "tier": "api"}) is chosen


def test_the_card_can_say_what_approve_opens_before_the_pods_are_read() -> None:
    service = KubernetesTarget(name="payments", namespace="billing", kind="Service", port=80,
                               protocol="TCP")
    domain_only = InternetTarget(domain="api.stripe.com", ip=None, port=443, protocol="TCP")

    assert opens(CHECKOUT, PAYMENTS) == [
        "ingress to billing/payments from shop/checkout only, on TCP 8080",
        "egress from shop/checkout to billing/payments on TCP 8080, plus DNS"]
    assert opens(CHECKOUT, service)[0] == ("ingress to billing/payments from shop/checkout "
                                           "only, on the target port behind Service port TCP 80")
    assert opens(CHECKOUT, STRIPE) == [
        "egress from shop/checkout to 203.0.113.7/32 on TCP 443, plus DNS"]
    assert opens(CHECKOUT, domain_only) == []
