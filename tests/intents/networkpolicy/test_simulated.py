"""The policies mean what the card says, in cyclonus's reading (an independent NetworkPolicy
simulator, not ours): the approved flow passes both ends, and nothing else does."""

from __future__ import annotations

import pytest

from chatbot.events.model import InternetTarget, KubernetesTarget
from chatbot.intents.networkpolicy.impact import ObservedFlow, preview
from chatbot.intents.networkpolicy.podset import PodSet
from chatbot.intents.networkpolicy.policy import Policy, merge
from chatbot.intents.networkpolicy.rules import Grant, ServerPort, grants
from testbench.cyclonus import Cyclonus, Traffic, Verdict, external, pod
from tests.intents.networkpolicy.flows import (
    CHECKOUT,
    CHECKOUT_PODS,
    FRAUD,
    PAYMENTS,
    STRIPE,
    checkout_to_payments,
    note,
)

pytestmark = pytest.mark.bench

CHECKOUT_POD = pod("shop", {"app": "checkout", "tier": "web"}, "10.1.0.10")
PAYMENTS_POD = pod("billing", {"app": "payments", "tier": "api"}, "10.2.0.20")
FRAUD_POD = pod("billing", {"app": "fraud"}, "10.2.0.30")
LOOKALIKE_POD = pod("shop-staging", {"app": "checkout", "tier": "web"}, "10.3.0.10")
NEIGHBOUR_POD = pod("shop", {"app": "search"}, "10.1.0.11")
KUBE_DNS_POD = pod("kube-system", {"k8s-app": "kube-dns"}, "10.0.0.53")
UNRELATED: Policy = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "db-ingress", "namespace": "data"},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]},
}


def written(found: list[Grant]) -> list[Policy]:
    """The policies the bot writes for these grants when none exist yet."""
    return [merge(None, grant, note()).document for grant in found]


def ask(cyclonus: Cyclonus, policies: list[Policy], *traffic: Traffic) -> list[Verdict]:
    return cyclonus.query(policies, list(traffic))


def test_the_approved_flow_is_allowed_by_the_policy_at_both_ends(cyclonus: Cyclonus) -> None:
    [verdict] = ask(cyclonus, written(checkout_to_payments()),
                    Traffic(CHECKOUT_POD, PAYMENTS_POD, 8080))

    assert verdict.egress.isolated and verdict.egress.allowed_by_policy
    assert verdict.ingress.isolated and verdict.ingress.allowed_by_policy
    assert verdict.allowed


def test_the_same_pods_on_another_port_are_denied(cyclonus: Cyclonus) -> None:
    tcp_9090, udp_8080 = ask(cyclonus, written(checkout_to_payments()),
                             Traffic(CHECKOUT_POD, PAYMENTS_POD, 9090),
                             Traffic(CHECKOUT_POD, PAYMENTS_POD, 8080, protocol="UDP"))

    for verdict in (tcp_9090, udp_8080):
        assert not verdict.egress.allowed and not verdict.ingress.allowed


def test_a_client_in_another_namespace_with_the_same_labels_is_denied(cyclonus: Cyclonus) -> None:
    [verdict] = ask(cyclonus, written(checkout_to_payments()),
                    Traffic(LOOKALIKE_POD, PAYMENTS_POD, 8080))

    assert not verdict.ingress.allowed
    assert not verdict.allowed


def test_another_workload_in_the_clients_namespace_is_denied(cyclonus: Cyclonus) -> None:
    """What a `from` with the namespace and the pods as two entries (either) would let in."""
    [verdict] = ask(cyclonus, written(checkout_to_payments()),
                    Traffic(NEIGHBOUR_POD, PAYMENTS_POD, 8080))

    assert not verdict.ingress.allowed


def test_an_unapproved_client_is_cut_off_by_the_first_policy_as_the_preview_said(
        cyclonus: Cyclonus) -> None:
    fraud_calls = Traffic(FRAUD_POD, PAYMENTS_POD, 8080)
    [before] = ask(cyclonus, [UNRELATED], fraud_calls)
    impact = preview(approved=ObservedFlow(CHECKOUT, PAYMENTS), grants=checkout_to_payments(),
                     policies=[UNRELATED], observed=[ObservedFlow(FRAUD, PAYMENTS)])

    [after] = ask(cyclonus, [UNRELATED, *written(checkout_to_payments())], fraud_calls)

    assert before.allowed and not before.ingress.isolated
    assert impact.isolates_server and impact.cut_clients == (ObservedFlow(FRAUD, PAYMENTS),)
    assert after.ingress.isolated and not after.ingress.allowed


def test_dns_from_the_client_still_works_and_only_to_kube_dns(cyclonus: Cyclonus) -> None:
    udp, tcp, elsewhere = ask(cyclonus, written(checkout_to_payments()),
                              Traffic(CHECKOUT_POD, KUBE_DNS_POD, 53, protocol="UDP"),
                              Traffic(CHECKOUT_POD, KUBE_DNS_POD, 53, protocol="TCP"),
                              Traffic(CHECKOUT_POD, external("8.8.8.8"), 53, protocol="UDP"))

    assert udp.egress.allowed_by_policy and udp.allowed
    assert tcp.egress.allowed_by_policy and tcp.allowed
    assert not elsewhere.egress.allowed


def test_an_internet_approval_allows_exactly_that_ip_and_port(cyclonus: Cyclonus) -> None:
    ipv6 = InternetTarget(domain=None, ip="2001:db8::7", port=443, protocol="TCP")
    policies = [merge(None, grant, note()).document
                for grant in grants(client=CHECKOUT_PODS, target=STRIPE, server=None, port=None)]
    both = merge(policies[0], grants(client=CHECKOUT_PODS, target=ipv6, server=None,
                                     port=None)[0], note("a-2")).document

    verdicts = ask(cyclonus, [both],
                   Traffic(CHECKOUT_POD, external("203.0.113.7"), 443),
                   Traffic(CHECKOUT_POD, external("2001:db8::7"), 443),
                   Traffic(CHECKOUT_POD, external("203.0.113.8"), 443),
                   Traffic(CHECKOUT_POD, external("203.0.113.7"), 80),
                   Traffic(CHECKOUT_POD, external("2001:db8::8"), 443),
                   Traffic(CHECKOUT_POD, PAYMENTS_POD, 443))

    assert [verdict.allowed for verdict in verdicts] == [True, True, False, False, False, False]
    assert verdicts[0].egress.allowed_by_policy and verdicts[1].egress.allowed_by_policy


def test_a_named_target_port_of_a_service_allows_that_container_port_only(
        cyclonus: Cyclonus) -> None:
    grpc_service = PodSet("billing", "Service", "payments-grpc",
                          {"matchLabels": {"app": "payments"}})
    target = KubernetesTarget(name="payments-grpc", namespace="billing", kind="Service",
                              port=9000, protocol="TCP")
    policies = written(grants(client=CHECKOUT_PODS, target=target, server=grpc_service,
                              port=ServerPort("grpc", "TCP")))

    named, other = ask(cyclonus, policies,
                       Traffic(CHECKOUT_POD, PAYMENTS_POD, 50051, port_name="grpc"),
                       Traffic(CHECKOUT_POD, PAYMENTS_POD, 50052, port_name="metrics"))

    assert named.allowed and named.ingress.allowed_by_policy and named.egress.allowed_by_policy
    assert not other.allowed
