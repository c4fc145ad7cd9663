"""Which pods a flow's workloads are, read from the apiserver (get only): a workload's
``spec.selector`` and pod-template labels (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job),
a bare Pod's labels, or a Service's selector — and, when the flow named a Service, the
``targetPort`` its port leads to (a number, or a container port's name that NetworkPolicy
resolves on each pod the same way the Service does).

Sits between the sink and the pure translation: the sink asks, rules.py gets PodSets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.errors import PermanentError
from chatbot.events.model import InternetTarget, KafkaTarget, KubernetesTarget, Target, Workload
from chatbot.intents.networkpolicy.podset import PodSet, normal_selector
from chatbot.intents.networkpolicy.refusal import refused
from chatbot.intents.networkpolicy.rules import (
    KAFKA_PORT,
    Grant,
    PortNumber,
    ServerPort,
    grants,
    unexpressible,
)

REQUEST_TIMEOUT = 30.0
KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "Service")
# A target named without a kind is what a client dials, most often a Service; then the
# workloads, in the order they are most common.
UNNAMED_KIND_ORDER = ("Service", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                      "Pod")

Reader = Callable[..., Awaitable[Any]]
"""(name, namespace, **options) -> the typed object: kubernetes_asyncio's read_namespaced_*."""


class ClusterResolver:
    """Reads through `api_client`, which it does not own."""

    def __init__(self, api_client: ApiClient, *, kafka_port: int = KAFKA_PORT) -> None:
        self._api_client = api_client
        self._kafka_port = kafka_port
        apps, batch, core = AppsV1Api(api_client), BatchV1Api(api_client), CoreV1Api(api_client)
        self._readers: dict[str, Reader] = {
            "deployment": apps.read_namespaced_deployment,
            "statefulset": apps.read_namespaced_stateful_set,
            "daemonset": apps.read_namespaced_daemon_set,
            "replicaset": apps.read_namespaced_replica_set,
            "job": batch.read_namespaced_job,
            "pod": core.read_namespaced_pod,
            "service": core.read_namespaced_service,
        }

    async def client(self, workload: Workload) -> PodSet:
        found = await self._read(workload.kind, workload.namespace, workload.name)
        if found is None:
            raise _missing(workload.kind, workload.namespace, workload.name)
        return podset(workload.kind, found)

    async def server(self, target: KubernetesTarget | KafkaTarget) -> tuple[PodSet, ServerPort]:
        if isinstance(target, KafkaTarget):
            kind, wanted = None, ServerPort(self._kafka_port, "TCP")
        else:
            kind, wanted = target.kind, ServerPort(target.port, target.protocol)
        for candidate in (kind,) if kind else UNNAMED_KIND_ORDER:
            found = await self._read(candidate, target.namespace, target.name)
            if found is None:
                continue
            pods = podset(candidate, found)
            if pods.kind != "Service":
                return pods, wanted
            return pods, ServerPort(service_port(found, wanted), wanted.protocol)
        raise _missing(kind or "workload or Service", target.namespace, target.name)

    async def _read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        reader = self._readers.get(kind.lower())
        if reader is None:
            raise PermanentError(
                f"{kind} {namespace}/{name}: NetworkPolicy output reads pod selectors from "
                f"{', '.join(KINDS)} only")
        try:
            typed = await reader(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise refused(exc, doing=f"read {_canonical(kind)} {namespace}/{name}") from exc
        return cast(dict[str, Any], self._api_client.sanitize_for_serialization(typed))


def podset(kind: str, found: dict[str, Any]) -> PodSet:
    """The pods `found` (a workload, Pod or Service object as JSON) stands for."""
    kind = _canonical(kind)
    metadata, spec = found.get("metadata") or {}, found.get("spec") or {}
    namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
    if kind == "Pod":
        labels = dict(metadata.get("labels") or {})
        selector: dict[str, Any] = {"matchLabels": labels}
    elif kind == "Service":
        labels = dict(spec.get("selector") or {})
        selector = {"matchLabels": labels}
    else:
        selector = spec.get("selector") or {}
        labels = dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
    if not normal_selector(selector):
        # An empty podSelector means every pod in the namespace: never write that by accident.
        raise PermanentError(
            f"{kind} {namespace}/{name} has no pod selector (a Service without one, or a Pod "
            "without labels); a NetworkPolicy cannot single out its pods")
    return PodSet(namespace=namespace, kind=kind, name=name, selector=normal_selector(selector),
                  labels=labels)


def service_port(service: dict[str, Any], wanted: ServerPort) -> PortNumber | None:
    """The targetPort behind the Service port the flow used. A flow that already reports the
    pod's port (sensors that see traffic after the Service's translation) keeps it."""
    if wanted.port is None:
        return None
    protocol = (wanted.protocol or "TCP").upper()
    ports = [entry for entry in (service.get("spec") or {}).get("ports") or ()
             if (entry.get("protocol") or "TCP") == protocol]
    for entry in ports:
        if entry.get("port") == wanted.port:
            target = entry.get("targetPort")
            return cast(PortNumber, target) if target is not None else wanted.port
    if any(entry.get("targetPort") == wanted.port for entry in ports):
        return wanted.port
    metadata = service.get("metadata") or {}
    offered = ", ".join(f"{entry.get('port')}->{entry.get('targetPort')}" for entry in ports)
    raise PermanentError(
        f"Service {metadata.get('namespace')}/{metadata.get('name')} has no {protocol} port "
        f"{wanted.port} (its {protocol} ports: {offered or 'none'})")


def _canonical(kind: str) -> str:
    return next((known for known in KINDS if known.lower() == kind.lower()), kind)


def _missing(kind: str, namespace: str, name: str) -> PermanentError:
    return PermanentError(f"there is no {_canonical(kind)} {namespace}/{name} in the cluster to "
                          "read a pod selector from")


class Resolver(Protocol):
    async def client(self, workload: Workload) -> PodSet:
        ...

    async def server(self, target: KubernetesTarget | KafkaTarget) -> tuple[PodSet, ServerPort]:
        ...


async def grants_for(resolver: Resolver, *, client: Workload, target: Target) -> list[Grant]:
    """The rules one approved flow needs; refuses what NetworkPolicy cannot say before reading."""
    cannot = unexpressible(target)
    if cannot is not None:
        raise PermanentError(cannot)
    client_pods = await resolver.client(client)
    if isinstance(target, InternetTarget):
        return grants(client=client_pods, target=target, server=None, port=None)
    server, port = await resolver.server(target)
    return grants(client=client_pods, target=target, server=server, port=port)
