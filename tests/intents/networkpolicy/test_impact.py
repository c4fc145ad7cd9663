"""The impact preview: when an approval writes the first policy selecting a pod, the other
observed flows of that pod are named, because the pod turns deny-by-default."""

from __future__ import annotations

from chatbot.events.model import InternetTarget, KubernetesTarget, Workload
from chatbot.intents.networkpolicy.impact import ObservedFlow, preview
from chatbot.intents.networkpolicy.policy import Policy, merge
from chatbot.intents.networkpolicy.rules import grants
from tests.intents.networkpolicy.flows import (
    CHECKOUT,
    CHECKOUT_PODS,
    FRAUD,
    PAYMENTS,
    STRIPE,
    checkout_to_payments,
    note,
    payments_on,
)

APPROVED = ObservedFlow(CHECKOUT, PAYMENTS)
FRAUD_TO_PAYMENTS = ObservedFlow(FRAUD, PAYMENTS)
CHECKOUT_ON_9090 = ObservedFlow(CHECKOUT, payments_on(9090))
CHECKOUT_TO_STRIPE = ObservedFlow(CHECKOUT, STRIPE)
CHECKOUT_DNS = ObservedFlow(CHECKOUT, KubernetesTarget(
    name="kube-dns", namespace="kube-system", kind="Service", port=53, protocol="UDP"))
UNRELATED = ObservedFlow(Workload("search", "shop", "Deployment"),
                         KubernetesTarget(name="index", namespace="shop", kind="Deployment",
                                          port=9200, protocol="TCP"))
OBSERVED = [APPROVED, FRAUD_TO_PAYMENTS, CHECKOUT_ON_9090, CHECKOUT_TO_STRIPE, CHECKOUT_DNS,
            UNRELATED]


def deny_all(namespace: str, types: list[str]) -> Policy:
    return {"metadata": {"name": "default-deny", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": types}}


def test_the_first_policies_name_every_other_observed_flow_they_cut() -> None:
    impact = preview(approved=APPROVED, grants=checkout_to_payments(), policies=[],
                     observed=OBSERVED)

    assert impact.isolates_server and impact.isolates_client and impact.cuts_anything
    assert impact.cut_clients == (FRAUD_TO_PAYMENTS, CHECKOUT_ON_9090)
    assert impact.cut_targets == (CHECKOUT_ON_9090, CHECKOUT_TO_STRIPE)  # DNS stays open


def test_pods_already_isolated_lose_nothing_more() -> None:
    policies = [deny_all("billing", ["Ingress"]), deny_all("shop", ["Egress"])]

    impact = preview(approved=APPROVED, grants=checkout_to_payments(), policies=policies,
                     observed=OBSERVED)

    assert not impact.isolates_server and not impact.isolates_client
    assert not impact.cuts_anything


def test_our_own_earlier_policy_already_isolates_the_server() -> None:
    ours = merge(None, next(g for g in checkout_to_payments() if g.direction == "ingress"),
                 note()).document

    impact = preview(approved=APPROVED, grants=checkout_to_payments(), policies=[ours],
                     observed=OBSERVED)

    assert not impact.isolates_server and impact.isolates_client
    assert impact.cut_clients == ()


def test_policies_that_select_other_pods_or_other_directions_do_not_count() -> None:
    policies = [
        deny_all("shop", ["Ingress"]),  # the client's namespace, but ingress
        deny_all("payments", ["Ingress"]),  # another namespace
        {"metadata": {"name": "db-only", "namespace": "billing"},
         "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}},
    ]

    impact = preview(approved=APPROVED, grants=checkout_to_payments(), policies=policies,
                     observed=OBSERVED)

    assert impact.isolates_server and impact.isolates_client


def test_an_internet_approval_only_isolates_the_client() -> None:
    approved = ObservedFlow(CHECKOUT, STRIPE)
    other_ip = ObservedFlow(CHECKOUT, InternetTarget(domain=None, ip="198.51.100.1", port=443,
                                                     protocol="TCP"))

    impact = preview(approved=approved, grants=grants(client=CHECKOUT_PODS, target=STRIPE,
                                                      server=None, port=None),
                     policies=[], observed=[approved, other_ip, APPROVED])

    assert not impact.isolates_server and impact.isolates_client
    assert impact.cut_targets == (other_ip, APPROVED)
