"""What Approve really opens, in words, for the configured output (pure).

The card used to show the flow (``Port 5432/TCP``, ``HTTP GET /api/v1/games``) as if that were
the grant. It is not: an Otterize ClientIntents target carries no port, HTTP rules hold only
where a service mesh enforces them, Kafka topics only with Otterize's Kafka integration and
internet targets only with its egress support; a NetworkPolicy is exact about ports but knows
nothing above layer 4. These sentences say which, per output kind, so the person deciding
reads the grant rather than the flow. Plain text: the renderers escape it.
"""

from __future__ import annotations

from chatbot.config.risk import Enforcement
from chatbot.events.model import InternetTarget, KafkaTarget, KubernetesTarget, Target, Workload

KAFKA_PORT = 9092
"""The broker port a NetworkPolicy is written for (the event names topics, not ports)."""
MESH_NAMES = {"istio": "Istio", "linkerd": "Linkerd"}


def grant_lines(client: Workload, target: Target, enforcement: Enforcement) -> list[str]:
    if enforcement.format == "networkpolicy":
        return _networkpolicy(client, target)
    return _clientintents(client, target, enforcement)


def _clientintents(client: Workload, target: Target, enforcement: Enforcement) -> list[str]:
    who = client.name
    match target:
        case KubernetesTarget():
            where = _where(target.kind, target.namespace, target.name)
            lines = [f"{who} may reach every port of {where}: a ClientIntents target carries "
                     f"no port (the flow used {_port(target.port, target.protocol)})."]
            if target.http is not None:
                call = f"{target.http.method} {target.http.path}"
                mesh = MESH_NAMES.get(enforcement.mesh or "")
                lines.append(
                    f"{mesh} enforces the HTTP rule: only {call} is allowed, other paths and "
                    "methods stay closed." if mesh else
                    f"The HTTP rule {call} is written but not enforced: no service mesh "
                    "enforces HTTP rules here, so every path and method is open.")
            return lines
        case KafkaTarget():
            server = f"the Kafka server {target.namespace}/{target.name}"
            topic = f"topic {target.topic} ({target.operation})"
            if enforcement.kafka:
                return [f"{who} may reach every port of {server}; Otterize's Kafka integration "
                        f"limits it to {topic}, other topics and operations stay closed."]
            return [f"{who} may reach every port of {server}, every topic and operation: "
                    f"the {topic} rule is enforced only with Otterize's Kafka integration, "
                    "which is not configured."]
        case InternetTarget():
            where = _destination(target)
            ports = f"port {target.port}" if target.port is not None else "every port"
            if enforcement.egress:
                return [f"Otterize's egress support lets {who} reach {where} on {ports}; "
                        "other internet destinations stay as they are."]
            return [f"The internet target {where} is written but not enforced: without "
                    "Otterize's egress support no egress policy is created, so egress stays "
                    "as open or as closed as it is now."]


def _networkpolicy(client: Workload, target: Target) -> list[str]:
    who = f"{client.namespace}/{client.name}"
    default_deny = ("A first NetworkPolicy on a pod makes it deny-by-default: every other "
                    "flow of those pods stops unless it is approved too.")
    match target:
        case KubernetesTarget():
            on = (f"port {_port(target.port, target.protocol)} only" if target.port is not None
                  else "every port (the flow carried none)")
            lines = [f"Ingress on {target.namespace}/{target.name} from exactly the pods of "
                     f"{who}, and the mirror egress rule on {who}: {on}."]
            if target.http is not None:
                lines.append(f"HTTP {target.http.method} {target.http.path} is not enforced: "
                             "NetworkPolicy allows the whole port.")
            return [*lines, default_deny]
        case KafkaTarget():
            return [f"{who} may reach the Kafka broker {target.namespace}/{target.name} on "
                    f"port {KAFKA_PORT} for every topic: NetworkPolicy cannot express topic "
                    f"{target.topic} ({target.operation}).", default_deny]
        case InternetTarget():
            if target.ip is None:
                return [f"{target.domain} cannot be written as a NetworkPolicy: it names no IP "
                        "address and NetworkPolicy cannot name domains, so Approve will fail."]
            ports = f"port {target.port}" if target.port is not None else "every port"
            lines = [f"Egress from {who} to exactly {target.ip} on {ports}."]
            if target.domain is not None:
                lines.append(f"{target.domain} is not enforced: only the IP is allowed, and the "
                             "domain may move to other addresses.")
            return [*lines, default_deny]


def _where(kind: str | None, namespace: str, name: str) -> str:
    return f"{kind or 'workload'} {namespace}/{name}"


def _destination(target: InternetTarget) -> str:
    if target.domain and target.ip:
        return f"{target.domain} ({target.ip})"
    return target.domain or target.ip or "the internet"


def _port(port: int | None, protocol: str | None) -> str:
    if port is None:
        return protocol or "no port"
    return f"{port}/{protocol or 'TCP'}"
