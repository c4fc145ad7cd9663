"""The shop every NetworkPolicy test talks about: checkout (shop) calls payments (billing) on
TCP 8080, fraud (billing) calls payments too, and look-alikes elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime

from chatbot.events.model import InternetTarget, KubernetesTarget, Workload
from chatbot.intents.document import ApprovalNote
from chatbot.intents.networkpolicy.podset import PodSet
from chatbot.intents.networkpolicy.rules import Grant, ServerPort, grants

CHECKOUT = Workload(name="checkout", namespace="shop", kind="Deployment")
FRAUD = Workload(name="fraud", namespace="billing", kind="Deployment")
CHECKOUT_PODS = PodSet("shop", "Deployment", "checkout", {"matchLabels": {"app": "checkout"}},
                       {"app": "checkout", "tier": "web"})
FRAUD_PODS = PodSet("billing", "Deployment", "fraud", {"matchLabels": {"app": "fraud"}},
                    {"app": "fraud"})
PAYMENTS_PODS = PodSet("billing", "Deployment", "payments", {"matchLabels": {"app": "payments"}},
                       {"app": "payments", "tier": "api"})
PAYMENTS = KubernetesTarget(name="payments", namespace="billing", kind="Deployment", port=8080,
                            protocol="TCP")
STRIPE = InternetTarget(domain="api.stripe.com", ip="203.0.113.7", port=443, protocol="TCP")


def note(anomaly_id: str = "a-1", approver: str = "U024BE7LH") -> ApprovalNote:
    return ApprovalNote(anomaly_id, approver, datetime(2025, 3, 1, 12, 30, tzinfo=UTC))


def payments_on(port: int | None, protocol: str | None = "TCP") -> KubernetesTarget:
    return KubernetesTarget(name="payments", namespace="billing", kind="Deployment", port=port,
                            protocol=protocol)


def checkout_to_payments(port: int | None = 8080, *,
                         client: PodSet = CHECKOUT_PODS) -> list[Grant]:
    return grants(client=client, target=payments_on(port), server=PAYMENTS_PODS,
                  port=ServerPort(port, "TCP"))


def by_direction(found: list[Grant]) -> dict[str, Grant]:
    return {grant.direction: grant for grant in found}
