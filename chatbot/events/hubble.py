"""Map one raw Hubble record to a FlowEvent, a counted Skip, or a flow still waiting for its
pods' owners (NeedsOwners); anything malformed raises BadEvent with a reason. Pure: no I/O.

Three record shapes are read, all protojson with proto field names (Cilium's
``api/v1/flow/flow.proto``): the exporter's ``{"flow": {...}, "node_name", "time"}``
(observer.ExportEvent), ``hubble observe -o json``'s GetFlowsResponse (the same shape), and
the bare Flow of ``hubble observe`` in legacy JSON mode. A shipper that wrapped the line
(``{"log": "<line>"}``, ``{"message": "<line>"}``) is unwrapped once.

In the flow: records -> :func:`read_flow` (map + :class:`ConnectionDedup`) -> owner resolution
for NeedsOwners -> coverage -> the store. Field mapping and skips: README, "Connecting your sensor".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from chatbot.errors import BadEvent
from chatbot.events import hubble_fields as fields
from chatbot.events import names
from chatbot.events.hubble_dedup import ConnectionDedup, ConnectionKey
from chatbot.events.hubble_endpoint import Endpoint, Entity, read_endpoint
from chatbot.events.hubble_outcome import (
    PLACEHOLDER_KIND,
    NeedsOwners,
    PodRef,
    PodTarget,
    Skip,
    SkipReason,
)
from chatbot.events.model import (
    FlowEvent,
    HttpCall,
    InternetTarget,
    KubernetesTarget,
    Reason,
    Target,
    Workload,
)
from chatbot.events.problem import Problem

MAX_RECORD_BYTES = 256 * 1024
MAX_ADDRESS_CHARS = 64
Outcome = FlowEvent | NeedsOwners | Skip

_NOT_FLOWS = ("lost_events", "agent_event", "node_status", "debug_event")
# A bare flow (no envelope) is recognised by fields only a flow has.
_FLOW_FIELDS = frozenset({"verdict", "source", "destination", "IP", "l4", "event_type",
                          "traffic_direction"})
# Drop reasons that mean "a policy said no" (flow.proto DropReason): the rest are datapath.
_POLICY_DROPS = frozenset({"POLICY_DENIED", "POLICY_DENY"})
_POLICY_DROP_CODES = frozenset({133, 181})
_SOURCE_SKIPS = {Entity.HOST: SkipReason.SOURCE_HOST, Entity.REMOTE_NODE:
                 SkipReason.SOURCE_REMOTE_NODE, Entity.HEALTH: SkipReason.SOURCE_HEALTH,
                 Entity.WORLD: SkipReason.SOURCE_WORLD}
_DESTINATION_SKIPS = {Entity.HOST: SkipReason.DESTINATION_HOST, Entity.REMOTE_NODE:
                      SkipReason.DESTINATION_REMOTE_NODE, Entity.HEALTH:
                      SkipReason.DESTINATION_HEALTH, Entity.KUBE_APISERVER:
                      SkipReason.DESTINATION_KUBE_APISERVER}


# A flood names the same few targets: one object each, built once (and the coverage memo's
# key comparisons become identity checks). Bounded like the memos in hubble_fields.
_TARGETS: dict[tuple[str | None, str | None, str | None, int, str, HttpCall | None],
               Target] = {}


@dataclass(frozen=True, slots=True)
class HubbleOptions:
    include_dns: bool = False
    """Map flows to and from kube-dns like any other (off: every workload talks to DNS)."""
    dns_namespace: str = "kube-system"
    dns_labels: Mapping[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})
    dns_services: frozenset[str] = frozenset({"kube-dns", "coredns"})
    default_cluster: str = "default"
    """Cilium's own default ``cluster.name``, used when a flow names no cluster."""


@dataclass(frozen=True, slots=True)
class Mapped:
    outcome: Outcome
    connection: ConnectionKey | None
    """What identifies the connection across its sightings; None when the flow lacks it."""


def read_flow(raw: bytes, *, options: HubbleOptions, seen: ConnectionDedup) -> Outcome:
    """Map one record and drop the repeated sightings of a connection (see hubble_dedup)."""
    mapped = map_record(raw, options=options)
    outcome = mapped.outcome
    if isinstance(outcome, Skip) or mapped.connection is None:
        return outcome
    event = outcome.event if isinstance(outcome, NeedsOwners) else outcome
    if not seen.first_sighting(mapped.connection, event.observed_at, event.reason):
        return Skip(SkipReason.DUPLICATE)
    return outcome


def map_record(raw: bytes, *, options: HubbleOptions) -> Mapped:
    if len(raw) > MAX_RECORD_BYTES:
        raise BadEvent(f"record is {len(raw)} bytes, over the {MAX_RECORD_BYTES}-byte limit",
                       category=Problem.OVERSIZE)
    return map_document(_decode(raw), options=options)


def map_document(doc: object, *, options: HubbleOptions) -> Mapped:
    if not isinstance(doc, dict):
        raise BadEvent("a Hubble record must be a JSON object", category=Problem.NOT_OBJECT)
    doc = _unwrapped(doc)
    if "flow" in doc:
        flow = doc["flow"]
        if not isinstance(flow, dict):
            raise BadEvent("field 'flow' must be an object", category=Problem.WRONG_TYPE)
        return _map_flow(flow, fallback_time=doc.get("time"), options=options)
    if any(key in doc for key in _NOT_FLOWS):
        return Mapped(Skip(SkipReason.NOT_A_FLOW), None)
    if doc.keys() & _FLOW_FIELDS:
        return _map_flow(doc, fallback_time=None, options=options)
    raise BadEvent("not a Hubble record: no 'flow' object and no flow fields",
                   category=Problem.MISSING_FIELD)


def _map_flow(flow: Mapping[str, Any], *, fallback_time: object,
              options: HubbleOptions) -> Mapped:
    observed_at = fields.time(flow.get("time", fallback_time))
    if _is_reply(flow):
        return Mapped(Skip(SkipReason.REPLY), None)
    reason_or_skip = _reason(flow)
    if isinstance(reason_or_skip, Skip):
        return Mapped(reason_or_skip, None)
    l4 = fields.layer4(flow.get("l4"))
    if l4 is None:
        return Mapped(Skip(SkipReason.PROTOCOL), None)
    protocol, source_port, port = l4
    source = read_endpoint(flow.get("source"), "source")
    destination = read_endpoint(flow.get("destination"), "destination")
    if source.entity is not Entity.POD:
        return Mapped(Skip(_SOURCE_SKIPS.get(source.entity, SkipReason.SOURCE_OTHER)), None)
    if source.namespace is None:
        raise BadEvent("field 'flow.source.namespace' is missing on a pod")
    cluster = source.cluster or options.default_cluster
    if destination.cluster is not None and destination.cluster != cluster:
        return Mapped(Skip(SkipReason.DESTINATION_OTHER_CLUSTER), None)
    l7 = flow.get("l7")
    if not options.include_dns and _is_dns(flow, l7, source, destination, source_port, options):
        return Mapped(Skip(SkipReason.DNS), None)
    http = fields.http_call(l7)
    target = _target(flow, destination, port, protocol, http)
    if isinstance(target, Skip):
        return Mapped(target, None)
    connection = _connection(flow, cluster, protocol, source_port, port, http)
    event_id = _event_id(flow, observed_at, connection)
    client_pod = None
    if source.client is not None:
        client = source.client
    else:
        assert source.pod is not None  # an Entity.POD has a pod name or a workload
        client_pod = PodRef(source.namespace, source.pod)
        client = Workload(name=source.pod, namespace=source.namespace, kind=PLACEHOLDER_KIND)
    target_pod = target if isinstance(target, PodTarget) else None
    event = FlowEvent(
        event_id=event_id, observed_at=observed_at, cluster=cluster, client=client,
        target=_placeholder(target) if isinstance(target, PodTarget) else target,
        reason=reason_or_skip,
    )
    outcome: Outcome = event
    if client_pod is not None or target_pod is not None:
        outcome = NeedsOwners(event, client_pod, target_pod, client_labels=dict(source.labels))
    return Mapped(outcome, connection)


def _target(flow: Mapping[str, Any], destination: Endpoint, port: int, protocol: str,
            http: HttpCall | None) -> Target | PodTarget | Skip:
    if destination.entity is Entity.WORLD:
        domain = fields.domain(flow.get("destination_names"))
        ip = None if domain else fields.destination_ip(flow)
        return _internet_target(domain, ip, port, protocol)
    if destination.entity is not Entity.POD:
        return Skip(_DESTINATION_SKIPS.get(destination.entity, SkipReason.DESTINATION_OTHER))
    assert destination.namespace is not None
    service = fields.service(flow.get("destination_service"), destination.namespace)
    if service is not None:
        name, namespace = service
        return _kubernetes_target(name, namespace, "Service", port, protocol, http)
    if destination.workload is not None:
        return _kubernetes_target(destination.workload.name, destination.namespace,
                                  destination.workload.kind, port, protocol, http)
    assert destination.pod is not None
    return PodTarget(PodRef(destination.namespace, destination.pod), port, protocol, http)


def _kubernetes_target(name: str, namespace: str, kind: str, port: int, protocol: str,
                       http: HttpCall | None) -> Target:
    key = (name, namespace, kind, port, protocol, http)
    return _TARGETS.get(key) or fields.remember(_TARGETS, key, KubernetesTarget(
        name=name, namespace=namespace, kind=kind, port=port, protocol=protocol, http=http))


def _internet_target(domain: str | None, ip: str | None, port: int, protocol: str) -> Target:
    key = ("", domain, ip, port, protocol, None)  # no Kubernetes name is empty
    return _TARGETS.get(key) or fields.remember(_TARGETS, key, InternetTarget(
        domain=domain, ip=ip, port=port, protocol=protocol))


def _placeholder(target: PodTarget) -> KubernetesTarget:
    return KubernetesTarget(name=target.pod.pod, namespace=target.pod.namespace,
                            kind=PLACEHOLDER_KIND, port=target.port, protocol=target.protocol,
                            http=target.http)


def _reason(flow: Mapping[str, Any]) -> Reason | Skip:
    verdict = fields.optional_str(flow, "verdict")
    if verdict == "FORWARDED":
        return Reason.NO_INTENT
    if verdict == "AUDIT":
        return Reason.WOULD_BE_DENIED
    if verdict == "DROPPED":
        described = fields.optional_str(flow, "drop_reason_desc")
        code = flow.get("drop_reason")
        if described in _POLICY_DROPS or (described is None and code in _POLICY_DROP_CODES):
            return Reason.DENIED_BY_POLICY
        return Skip(SkipReason.DROPPED_NOT_BY_POLICY)
    return Skip(SkipReason.VERDICT)


def _is_reply(flow: Mapping[str, Any]) -> bool:
    reply = flow.get("is_reply")
    if reply is None:
        reply = flow.get("reply", False)  # deprecated field, still set by older agents
    if type(reply) is not bool:
        raise BadEvent("field 'flow.is_reply' must be true or false")
    if reply or flow.get("trace_reason") == "REPLY":
        return True
    l7 = flow.get("l7")
    return isinstance(l7, dict) and l7.get("type") == "RESPONSE"


def _is_dns(flow: Mapping[str, Any], l7: object, source: Endpoint, destination: Endpoint,
            source_port: int, options: HubbleOptions) -> bool:
    if isinstance(l7, dict) and "dns" in l7:
        return True
    service = flow.get("destination_service")
    if (isinstance(service, dict) and service.get("name") in options.dns_services
            and service.get("namespace") == options.dns_namespace):
        return True
    if _is_kube_dns(destination, options):
        return True
    # An answer whose reply flag was lost still comes from kube-dns's port 53.
    return source_port == 53 and _is_kube_dns(source, options)


def _is_kube_dns(endpoint: Endpoint, options: HubbleOptions) -> bool:
    if endpoint.namespace != options.dns_namespace:
        return False
    labels = endpoint.labels
    return all(labels.get(key) == value for key, value in options.dns_labels.items())


def _connection(flow: Mapping[str, Any], cluster: str, protocol: str, source_port: int,
                port: int, http: HttpCall | None) -> ConnectionKey | None:
    ip = flow.get("IP")
    if ip is None:
        return None
    if not isinstance(ip, dict):
        raise BadEvent("field 'flow.IP' must be an object")
    source, destination = ip.get("source"), ip.get("destination")
    for key, value in (("source", source), ("destination", destination)):
        # Bounded: the key is hashed for every sighting (hubble_dedup).
        if value is not None and (type(value) is not str or len(value) > MAX_ADDRESS_CHARS):
            raise BadEvent(f"field 'flow.IP.{key}' is not an IP address")
    if source is None or destination is None or not source_port:
        return None
    return (cluster, protocol, source, source_port, destination, port,
            http.method if http else "", http.path if http else "")


def _event_id(flow: Mapping[str, Any], observed_at: datetime,
              connection: ConnectionKey | None) -> str:
    uuid = flow.get("uuid")
    if type(uuid) is str and names.is_event_id(uuid):
        return uuid
    # No usable uuid: the same record must still get the same id when it is redelivered.
    node = flow.get("node_name")
    parts = (node if type(node) is str and len(node) <= 253 else "", observed_at.isoformat(),
             *(str(part) for part in connection or ()))
    return "hubble-" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def _decode(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"malformed JSON: {exc}", category=Problem.MALFORMED_JSON) from exc


def _unwrapped(doc: dict[str, Any]) -> dict[str, Any]:
    """A Fluent Bit or Vector record that carries the exporter's line as a string."""
    if "flow" in doc or doc.keys() & _FLOW_FIELDS:
        return doc
    for key in ("log", "message"):
        line = doc.get(key)
        if type(line) is str and line.lstrip().startswith("{"):
            if len(line) > MAX_RECORD_BYTES:
                raise BadEvent(f"field '{key}' is over the {MAX_RECORD_BYTES}-byte limit",
                               category=Problem.OVERSIZE)
            inner = _decode(line.encode())
            if not isinstance(inner, dict):
                raise BadEvent(f"field '{key}' must hold a JSON object")
            return inner
    return doc

