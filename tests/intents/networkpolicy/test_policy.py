"""The bot's NetworkPolicy documents: one per workload per direction, labelled as ours, every
approved rule recorded, merged without narrowing, and the same approval twice changing nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chatbot.errors import PermanentError
from chatbot.intents.document import MANAGED_BY_LABEL
from chatbot.intents.networkpolicy.podset import PodSet
from chatbot.intents.networkpolicy.policy import (
    APPROVALS,
    MAX_APPROVALS_CHARS,
    MAX_NAME,
    SELECTS,
    Policy,
    approvals,
    merge,
    policy_name,
    policy_types,
)
from chatbot.intents.networkpolicy.rules import Grant, ServerPort, grants
from tests.intents.networkpolicy.flows import (
    CHECKOUT_PODS,
    FRAUD_PODS,
    PAYMENTS_PODS,
    by_direction,
    checkout_to_payments,
    note,
    payments_on,
)

DNS_RULE = {
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def ingress(port: int | None = 8080, client: PodSet | None = None) -> Grant:
    if client is None:
        return by_direction(checkout_to_payments(port))["ingress"]
    return by_direction(checkout_to_payments(port, client=client))["ingress"]


def egress(port: int | None = 8080) -> Grant:
    return by_direction(checkout_to_payments(port))["egress"]


def test_the_first_approval_creates_the_servers_ingress_policy() -> None:
    merged = merge(None, ingress(), note("a-1"))

    policy = merged.document
    assert merged.changed
    assert policy["apiVersion"] == "networking.k8s.io/v1" and policy["kind"] == "NetworkPolicy"
    assert policy["metadata"]["name"] == "payments-deployment-ingress"
    assert policy["metadata"]["namespace"] == "billing"
    assert policy["metadata"]["labels"] == {MANAGED_BY_LABEL: "flow-approval-chatbot"}
    assert policy["metadata"]["annotations"][SELECTS] == "Deployment payments"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"app": "payments"}},
        "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [{"namespaceSelector": {"matchLabels": {
                          "kubernetes.io/metadata.name": "shop"}},
                      "podSelector": {"matchLabels": {"app": "checkout"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }],
    }
    assert approvals(policy) == [{"rule": "from shop/checkout on TCP 8080", "anomaly": "a-1",
                                  "by": "U024BE7LH", "at": "2025-03-01T12:30:00Z"}]


def test_the_clients_egress_policy_keeps_dns_open() -> None:
    policy = merge(None, egress(), note()).document

    assert policy["metadata"]["name"] == "checkout-deployment-egress"
    assert policy["metadata"]["namespace"] == "shop"
    assert policy["spec"]["policyTypes"] == ["Egress"]
    assert policy["spec"]["egress"] == [DNS_RULE, {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "billing"}},
                "podSelector": {"matchLabels": {"app": "payments"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }]


@pytest.mark.parametrize("grant", [ingress(), egress()], ids=["ingress", "egress"])
def test_the_same_approval_twice_changes_nothing(grant: Grant) -> None:
    first = merge(None, grant, note("a-1")).document
    stored = copy.deepcopy(first) | {"metadata": first["metadata"] | {"resourceVersion": "7"}}

    again = merge(stored, grant, note("a-2"))

    assert not again.changed
    assert again.document == stored


def test_another_client_gets_its_own_rule_and_its_own_record() -> None:
    first = merge(None, ingress(), note("a-1")).document

    merged = merge(first, ingress(client=FRAUD_PODS), note("a-2", approver="U0OTHER"))

    rules = merged.document["spec"]["ingress"]
    assert merged.changed and len(rules) == 2
    assert rules[1]["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "billing"}},
        "podSelector": {"matchLabels": {"app": "fraud"}}}]
    assert [(entry["anomaly"], entry["by"], entry["rule"])
            for entry in approvals(merged.document)] == [
        ("a-1", "U024BE7LH", "from shop/checkout on TCP 8080"),
        ("a-2", "U0OTHER", "from billing/fraud on TCP 8080")]


def test_another_port_of_the_same_client_joins_its_rule() -> None:
    first = merge(None, ingress(8080), note("a-1")).document

    merged = merge(first, ingress(9090), note("a-2"))

    [rule] = merged.document["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 9090}]


@pytest.mark.parametrize("ports", [None, [{"protocol": "TCP"}],
                                   [{"protocol": "TCP", "port": 8000, "endPort": 8999}]],
                         ids=["every-port", "every-tcp-port", "a-range"])
def test_a_rule_that_already_allows_the_port_is_left_alone(ports: list[Any] | None) -> None:
    policy = merge(None, ingress(), note()).document
    rule = policy["spec"]["ingress"][0]
    if ports is None:
        del rule["ports"]
    else:
        rule["ports"] = ports

    assert not merge(policy, ingress(8080), note("a-2")).changed


def test_an_approval_for_every_port_widens_the_rule_never_narrows() -> None:
    policy = merge(None, ingress(8080), note("a-1")).document
    every_tcp_port = merge(policy, ingress(None), note("a-2")).document
    every_port = next(grant for grant in grants(
        client=CHECKOUT_PODS, target=payments_on(None, None), server=PAYMENTS_PODS,
        port=ServerPort(None, None)) if grant.direction == "ingress")

    merged = merge(every_tcp_port, every_port, note("a-3"))

    assert every_tcp_port["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 8080}, {"protocol": "TCP"}]
    assert "ports" not in merged.document["spec"]["ingress"][0]


def test_someone_elses_policy_under_our_name_is_never_changed() -> None:
    theirs: Policy = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "payments-deployment-ingress", "namespace": "billing"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    before = copy.deepcopy(theirs)

    with pytest.raises(PermanentError, match="was not written by flow-approval-chatbot"):
        merge(theirs, ingress(), note())
    assert theirs == before


def test_a_policy_follows_its_workloads_selector() -> None:
    policy = merge(None, ingress(), note("a-1")).document
    moved = Grant("ingress", PodSet("billing", "Deployment", "payments",
                                    {"matchLabels": {"app": "payments", "v": "2"}}),
                  ingress().peer, ingress().ports, ingress().summary)

    merged = merge(policy, moved, note("a-2"))

    assert merged.changed
    assert merged.document["spec"]["podSelector"] == {"matchLabels": {"app": "payments", "v": "2"}}


def test_the_approvals_record_keeps_the_newest_within_its_cap() -> None:
    policy = merge(None, ingress(1), note("a-1")).document
    for port in range(2, 600):
        policy = merge(policy, ingress(port), note(f"a-{port}")).document

    text = policy["metadata"]["annotations"][APPROVALS]
    recorded = approvals(policy)
    assert len(text) <= MAX_APPROVALS_CHARS
    assert recorded[-1]["anomaly"] == "a-599" and recorded[0]["anomaly"] != "a-1"
    assert len(policy["spec"]["ingress"][0]["ports"]) == 599  # the rules are never capped


def test_names_are_per_workload_kind_and_direction_and_stay_valid_when_long() -> None:
    stateful = PodSet("billing", "StatefulSet", "payments", PAYMENTS_PODS.selector)
    long_one = PodSet("billing", "Deployment", "p" * 250, PAYMENTS_PODS.selector)
    long_two = PodSet("billing", "Deployment", "p" * 249 + "q", PAYMENTS_PODS.selector)

    assert policy_name(PAYMENTS_PODS, "ingress") == "payments-deployment-ingress"
    assert policy_name(stateful, "ingress") == "payments-statefulset-ingress"
    assert policy_name(PAYMENTS_PODS, "egress") == "payments-deployment-egress"
    names = {policy_name(long_one, "ingress"), policy_name(long_two, "ingress")}
    assert len(names) == 2 and all(len(name) <= MAX_NAME for name in names)
    assert all(name.endswith("-ingress") for name in names)


def test_policy_types_default_as_the_apiserver_does() -> None:
    assert policy_types({"spec": {"podSelector": {}}}) == ["Ingress"]
    assert policy_types({"spec": {"egress": [{}]}}) == ["Ingress", "Egress"]
    assert policy_types({"spec": {"policyTypes": ["Egress"]}}) == ["Egress"]
