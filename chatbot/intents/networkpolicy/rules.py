"""One approved flow, its pods resolved, as NetworkPolicy rules (pure).

A flow from a client workload to an in-cluster server becomes two grants: an ingress rule on
the server's policy (from exactly the client's pods, on the flow's port) and the mirror egress
rule on the client's policy (to exactly the server's pods, on that port). An internet flow
becomes one egress grant per IP (``ipBlock`` /32 or /128). What NetworkPolicy cannot say —
domain names, HTTP paths, Kafka topics — is either refused (:func:`unexpressible`) or named as
a limit (:func:`limits`) so the card can state exactly what the grant opens.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from chatbot.errors import PermanentError
from chatbot.events.model import (
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Target,
    Workload,
)
from chatbot.intents.networkpolicy.podset import PodSet

Direction = Literal["ingress", "egress"]
PortNumber = int | str
"""A port as NetworkPolicy takes it: a number, or a container port's name."""

KAFKA_PORT = 9092
"""The broker port written for Kafka flows: the event names the broker and topic, not a port."""


@dataclass(frozen=True, slots=True)
class ServerPort:
    """Where the flow lands on the server pods: the container port, or the Service's
    targetPort when the flow named a Service. ``port`` None: the flow carried no port."""

    port: PortNumber | None
    protocol: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    """One rule to add to the policy that selects `pods` for `direction`."""

    direction: Direction
    pods: PodSet
    peer: dict[str, Any]
    """The one NetworkPolicyPeer of the rule (``from`` for ingress, ``to`` for egress)."""
    ports: tuple[dict[str, Any], ...]
    """NetworkPolicyPort entries; empty means every port and protocol."""
    summary: str
    """For people and the approvals annotation: ``from shop/checkout on TCP 8080``."""


def grants(*, client: PodSet, target: Target, server: PodSet | None,
           port: ServerPort | None) -> list[Grant]:
    """The rules that allow this flow; `server`/`port` are None only for internet targets."""
    refused = unexpressible(target)
    if refused is not None:
        raise PermanentError(refused)
    if isinstance(target, InternetTarget):
        ports = _ports(ServerPort(target.port, target.protocol))
        return [Grant("egress", client, {"ipBlock": {"cidr": cidr}}, ports,
                      f"to {cidr} on {_ports_text(ports)}")
                for cidr in internet_cidrs(target)]
    if server is None or port is None:
        raise ValueError("an in-cluster target needs its resolved pods and port")
    ports = _ports(port)
    on = _ports_text(ports)
    return [
        Grant("egress", client, server.peer(), ports, f"to {_pods_text(server)} on {on}"),
        Grant("ingress", server, client.peer(), ports, f"from {_pods_text(client)} on {on}"),
    ]


def unexpressible(target: Target) -> str | None:
    """Why this flow cannot be approved as a NetworkPolicy, or None if it can."""
    if isinstance(target, InternetTarget) and target.ip is None:
        return (f"NetworkPolicy cannot name a domain: {target.domain} can be approved only "
                "with the IP address the flow went to, and this flow carries none "
                "(ClientIntents, or a CNI's FQDN policy, can express domains)")
    if isinstance(target, InternetTarget) and target.ip is not None:
        try:
            ipaddress.ip_address(target.ip)
        except ValueError:
            return f"{target.ip!r} is not an IP address; NetworkPolicy ipBlocks need one"
    return None


def limits(target: Target, *, kafka_port: int = KAFKA_PORT) -> list[str]:
    """What the flow asked for that the written policy does not enforce, in words."""
    notes = []
    match target:
        case KubernetesTarget(http=http) if http is not None:
            notes.append(f"HTTP {http.method} {http.path} is not enforced: NetworkPolicy "
                         "allows the whole port")
        case KafkaTarget():
            notes.append(f"topic {target.topic} ({target.operation}) is not enforced: "
                         f"NetworkPolicy allows the broker's port {kafka_port} for every topic")
        case InternetTarget(domain=domain) if domain is not None and target.ip is not None:
            notes.append(f"{domain} is not enforced: only the IP {target.ip} is allowed, and "
                         "the domain may move to other addresses")
        case _:
            pass
    port = target.port if isinstance(target, KubernetesTarget | InternetTarget) else kafka_port
    if port is None:
        notes.append("the flow carried no port: every port is allowed")
    return notes


def opens(client: Workload, target: Target, *, kafka_port: int = KAFKA_PORT) -> list[str]:
    """What Approve writes, in words, from the flow alone (before the pods are read), for the
    card; empty when :func:`unexpressible` refuses the flow."""
    if unexpressible(target) is not None:
        return []
    source = f"{client.namespace}/{client.name}"
    if isinstance(target, InternetTarget):
        on = _ports_text(_ports(ServerPort(target.port, target.protocol)))
        return [f"egress from {source} to {cidr} on {on}, plus DNS"
                for cidr in internet_cidrs(target)]
    port: int | None
    protocol: str | None
    kind: str | None
    if isinstance(target, KafkaTarget):
        port, protocol, kind = kafka_port, "TCP", None
    else:
        port, protocol, kind = target.port, target.protocol, target.kind
    on = _ports_text(_ports(ServerPort(port, protocol)))
    if kind is not None and kind.lower() == "service" and port is not None:
        on = f"the target port behind Service port {on}"
    server = f"{target.namespace}/{target.name}"
    return [f"ingress to {server} from {source} only, on {on}",
            f"egress from {source} to {server} on {on}, plus DNS"]


def internet_cidrs(target: InternetTarget) -> list[str]:
    if target.ip is None:
        return []
    address = ipaddress.ip_address(target.ip)
    return [f"{address}/{address.max_prefixlen}"]


def _ports(port: ServerPort) -> tuple[dict[str, Any], ...]:
    protocol = (port.protocol or "TCP").upper()
    if port.port is None:
        return ({"protocol": protocol},) if port.protocol else ()
    return ({"protocol": protocol, "port": port.port},)


def _ports_text(ports: tuple[dict[str, Any], ...]) -> str:
    if not ports:
        return "every port"
    return ", ".join(f"{entry['protocol']} {entry.get('port', 'any port')}" for entry in ports)


def _pods_text(pods: PodSet) -> str:
    return f"{pods.namespace}/{pods.name}"
