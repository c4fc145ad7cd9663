"""Who an approval would cut off (pure). The first NetworkPolicy that selects a pod for a
direction turns that pod deny-by-default there: every connection no policy allows stops. So
when an approval would write the first ingress policy selecting the server's pods (or the first
egress policy selecting the client's), the other clients observed calling that server (or the
other targets the client was observed calling) lose access unless they are approved too.

The caller passes the policies that exist in the two namespaces and the flows observed for the
workloads; the answer names the flows, for the card and the Approve confirmation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.events.model import InternetTarget, KafkaTarget, KubernetesTarget, Target, Workload
from chatbot.intents.networkpolicy.podset import PodSet, selects
from chatbot.intents.networkpolicy.policy import DNS, Dns, Policy, policy_types
from chatbot.intents.networkpolicy.rules import KAFKA_PORT, Grant


@dataclass(frozen=True, slots=True)
class ObservedFlow:
    client: Workload
    target: Target


@dataclass(frozen=True, slots=True)
class Impact:
    isolates_server: bool
    """The approval writes the first ingress policy that selects the server's pods."""
    isolates_client: bool
    """The approval writes the first egress policy that selects the client's pods."""
    cut_clients: tuple[ObservedFlow, ...]
    """Flows into the server that stop unless approved too."""
    cut_targets: tuple[ObservedFlow, ...]
    """Flows out of the client that stop unless approved too (DNS stays open). A flow of the
    same client to the same server on another port is in both lists: it is cut on both sides."""

    @property
    def cuts_anything(self) -> bool:
        return bool(self.cut_clients or self.cut_targets)


def preview(*, approved: ObservedFlow, grants: Sequence[Grant], policies: Sequence[Policy],
            observed: Sequence[ObservedFlow], dns: Dns = DNS) -> Impact:
    ingress = next((grant for grant in grants if grant.direction == "ingress"), None)
    egress = next((grant for grant in grants if grant.direction == "egress"), None)
    isolates_server = ingress is not None and not _isolated(ingress.pods, "Ingress", policies)
    isolates_client = egress is not None and not _isolated(egress.pods, "Egress", policies)
    others = [flow for flow in observed if not _same_flow(flow, approved)]
    cut_clients = tuple(flow for flow in others
                        if isolates_server and _same_target(flow.target, approved.target))
    cut_targets = tuple(flow for flow in others
                        if isolates_client and _same_client(flow.client, approved.client)
                        and not _is_dns(flow.target, dns))
    return Impact(isolates_server, isolates_client, cut_clients, cut_targets)


def _isolated(pods: PodSet, policy_type: str, policies: Sequence[Policy]) -> bool:
    """Does some policy in the pods' namespace already select them for `policy_type`?"""
    for policy in policies:
        metadata = policy.get("metadata") or {}
        if metadata.get("namespace") != pods.namespace:
            continue
        if policy_type not in policy_types(policy):
            continue
        if selects((policy.get("spec") or {}).get("podSelector"), _labels(pods)):
            return True
    return False


def _labels(pods: PodSet) -> dict[str, str]:
    # A Service's pods are known only by its selector; they carry at least those labels.
    return dict(pods.labels) or dict((pods.selector.get("matchLabels") or {}).items())


def _same_client(one: Workload, other: Workload) -> bool:
    return (one.namespace, one.name, one.kind.lower()) == (
        other.namespace, other.name, other.kind.lower())


def _same_target(one: Target, other: Target) -> bool:
    """The same server (not the same port): what the server's ingress policy is about."""
    if isinstance(one, KubernetesTarget | KafkaTarget) and isinstance(
            other, KubernetesTarget | KafkaTarget):
        return (one.namespace, one.name) == (other.namespace, other.name)
    return False


def _same_flow(one: ObservedFlow, other: ObservedFlow) -> bool:
    """Flows the approved grant itself allows: same client, same server or IP, same port."""
    if not _same_client(one.client, other.client):
        return False
    if isinstance(one.target, InternetTarget) and isinstance(other.target, InternetTarget):
        return (one.target.ip, _port(one.target)) == (other.target.ip, _port(other.target))
    return _same_target(one.target, other.target) and _port(one.target) == _port(other.target)


def _port(target: Target) -> tuple[int | None, str]:
    if isinstance(target, KafkaTarget):
        return KAFKA_PORT, "TCP"
    return target.port, (target.protocol or "TCP").upper()


def _is_dns(target: Target, dns: Dns) -> bool:
    """Traffic the DNS rule keeps open (to the DNS namespace on its port)."""
    return (isinstance(target, KubernetesTarget) and target.namespace == dns.namespace
            and target.port == dns.port)
