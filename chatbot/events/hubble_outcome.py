"""What mapping one Hubble record can give besides a FlowEvent: a counted skip, or a flow whose
workloads are known only by pod name and still need their owner from the apiserver.

Mapping (hubble.py) is pure; owner resolution (chatbot/cluster/owners.py) does the I/O; then
:meth:`NeedsOwners.complete` builds the FlowEvent from what the resolver found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from chatbot.events.model import (
    FlowEvent,
    HttpCall,
    KubernetesTarget,
    Reason,
    Target,
    Workload,
)


class SkipReason(StrEnum):
    """Why a valid Hubble record makes no event; the label of the skip counter."""

    NOT_A_FLOW = "not-a-flow"
    """Lost-events, agent, node-status or debug records share the exporter's file."""
    REPLY = "reply"
    """The answer direction of a connection already seen (is_reply, L7 responses)."""
    DUPLICATE = "duplicate"
    """The same connection seen again: at the other node, or at another observation point."""
    VERDICT = "verdict-not-actionable"
    """REDIRECTED, TRACED, TRANSLATED, ERROR, unknown: not a decision about access."""
    DROPPED_NOT_BY_POLICY = "dropped-not-by-policy"
    """Dropped for a datapath reason (conntrack, routing...): no intent would change it."""
    PROTOCOL = "protocol-not-expressible"
    """ICMP, IGMP, VRRP or no layer 4 at all: intents have no words for them."""
    DNS = "dns"
    """Queries to and answers from kube-dns (every workload needs them), unless configured."""
    SOURCE_HOST = "source-host"
    SOURCE_REMOTE_NODE = "source-remote-node"
    SOURCE_HEALTH = "source-health"
    SOURCE_WORLD = "source-world"
    """Traffic entering from outside: ingress, not a workload calling out."""
    SOURCE_OTHER = "source-no-workload"
    """Any other source without a workload identity (init, unmanaged, ingress, apiserver...)."""
    DESTINATION_HOST = "destination-host"
    DESTINATION_REMOTE_NODE = "destination-remote-node"
    DESTINATION_HEALTH = "destination-health"
    DESTINATION_KUBE_APISERVER = "destination-kube-apiserver"
    DESTINATION_OTHER = "destination-no-workload"
    DESTINATION_OTHER_CLUSTER = "destination-other-cluster"
    """Cluster-mesh traffic: intents name targets in their own cluster only."""
    OWNER_UNKNOWN = "owner-unknown"
    """The pod is gone (or never existed) by the time its owner was looked up."""


@dataclass(frozen=True, slots=True)
class Skip:
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class PodRef:
    """A pod the flow names without its workload (Hubble gives workloads only for endpoints
    on the reporting node)."""

    namespace: str
    pod: str


@dataclass(frozen=True, slots=True)
class Owner:
    """The top controller of a pod: Deployment, StatefulSet, DaemonSet, CronJob, Job..."""

    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class PodTarget:
    """A kubernetes target known only by pod name, waiting for its owner."""

    pod: PodRef
    port: int | None
    protocol: str | None
    http: HttpCall | None


@dataclass(frozen=True, slots=True)
class NeedsOwners:
    """A mapped flow with a client and/or target still known only by pod name."""

    event: FlowEvent
    """Complete except where ``client_pod``/``target_pod`` stand in for the workload."""
    client_pod: PodRef | None
    target_pod: PodTarget | None
    client_labels: Mapping[str, str] = field(default_factory=dict)

    def pods(self) -> tuple[PodRef, ...]:
        found = [self.client_pod, self.target_pod.pod if self.target_pod else None]
        return tuple(pod for pod in found if pod is not None)

    def complete(self, owners: Mapping[PodRef, Owner]) -> FlowEvent | Skip:
        """The event with each pod replaced by its owner; a Skip if an owner is unknown."""
        client: Workload = self.event.client
        if self.client_pod is not None:
            owner = owners.get(self.client_pod)
            if owner is None:
                return Skip(SkipReason.OWNER_UNKNOWN)
            client = Workload(name=owner.name, namespace=self.client_pod.namespace,
                              kind=owner.kind, labels=dict(self.client_labels))
        target: Target = self.event.target
        if self.target_pod is not None:
            owner = owners.get(self.target_pod.pod)
            if owner is None:
                return Skip(SkipReason.OWNER_UNKNOWN)
            target = KubernetesTarget(
                name=owner.name, namespace=self.target_pod.pod.namespace, kind=owner.kind,
                port=self.target_pod.port, protocol=self.target_pod.protocol,
                http=self.target_pod.http)
        return msgspec.structs.replace(self.event, client=client, target=target)


PLACEHOLDER_KIND = "Pod"
"""The kind of the stand-in workload/target in ``NeedsOwners.event`` until it is completed."""


def reason_rank(reason: Reason) -> int:
    """How much a sighting says: a denial outranks an audit, which outranks a pass."""
    return _RANK.get(reason, 0)


_RANK = {Reason.NO_INTENT: 0, Reason.NEW_CONNECTION: 0, Reason.WOULD_BE_DENIED: 1,
         Reason.DENIED_BY_POLICY: 2}
