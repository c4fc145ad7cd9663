"""The coverage index: which approved ClientIntents already allow a flow. Pure; the watcher
(watch.py) or the intents directory (directory_index.py) keeps it current.

In the flow: mapped event -> :meth:`CoverageIndex.covering` -> covered: count only; not
covered: the store. When an intent appears later, :meth:`CoverageIndex.covering` tells a
pending anomaly which ClientIntents now covers it.

Matching follows Otterize's meaning of the v2 fields, generously where Otterize is generous:
- kubernetes/service targets by ``name[.namespace]``; a Service flow is covered by a service
  target or a kubernetes target of kind Service or of no kind; a workload flow by a kubernetes
  target of its kind or of no kind. Ports are not compared (in-cluster targets carry none).
- ``http`` absent or empty allows every call; otherwise the path must match (exactly, or by
  the prefix before a trailing ``*``) and the method be listed (no methods: any method).
  A flow seen at layer 4 only is covered by the target whatever its http rules.
- kafka by topic (absent or empty topics: all; ``*``: any) and operation (``all``: any).
- internet by domain (``*.example.com`` covers subdomains) or address (inside a listed
  CIDR), and port (no ports: any).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chatbot.events.model import (
    FlowEvent,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Target,
    Workload,
)
from chatbot.intents.shapes import Entry, NotIntents, read_intents, split_name

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MEMO_LIMIT = 50_000
_REASON_LIMIT = 200


@dataclass(frozen=True, slots=True, order=True)
class IntentRef:
    """Where a ClientIntents lives: ``namespace/name`` in the cluster, or a file."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class _InCluster:
    service: bool
    name: str
    namespace: str
    kind: str | None
    calls: tuple[tuple[str, frozenset[str]], ...]


@dataclass(frozen=True, slots=True)
class _Kafka:
    name: str
    namespace: str
    topics: tuple[tuple[str, frozenset[str]], ...]


@dataclass(frozen=True, slots=True)
class _Internet:
    domains: tuple[str, ...]
    networks: tuple[Network, ...]
    ports: frozenset[int]


_Grant = _InCluster | _Kafka | _Internet


@dataclass(frozen=True, slots=True)
class _Intents:
    ref: IntentRef
    workload_name: str
    workload_kind: str | None
    grants: tuple[_Grant, ...]


class CoverageIndex:
    def __init__(self, *, cluster: str | None = None) -> None:
        """`cluster`: the cluster these intents belong to; flows of others are never covered."""
        self._cluster = cluster
        self._intents: dict[IntentRef, _Intents] = {}
        self._by_client: dict[tuple[str, str], set[IntentRef]] = {}
        self._memo: dict[tuple[str, Workload, Target], IntentRef | None] = {}
        self._unreadable: dict[IntentRef, str] = {}
        """Why each document that grants nothing could not be read, so it is logged once."""
        self.generation = 0
        """Bumped on every change, so callers can tell the index moved since they looked."""

    def __len__(self) -> int:
        return len(self._intents)

    def refs(self) -> set[IntentRef]:
        return set(self._intents)

    def replace_all(self, documents: Iterable[tuple[IntentRef, object]]) -> None:
        """Start over from a full listing (a list, a re-list after 410 Gone, a directory scan)."""
        self._intents.clear()
        self._by_client.clear()
        seen: set[IntentRef] = set()
        for ref, document in documents:
            seen.add(ref)
            self._add(ref, document)
        for ref in self._unreadable.keys() - seen:
            del self._unreadable[ref]
        self._changed()

    def upsert(self, ref: IntentRef, document: object) -> None:
        self._drop(ref)
        self._add(ref, document)
        self._changed()

    def remove(self, ref: IntentRef) -> None:
        self._unreadable.pop(ref, None)
        if self._drop(ref):
            self._changed()

    def covering(self, event: FlowEvent) -> IntentRef | None:
        """The ClientIntents that allows this flow (the first by namespace/name), or None."""
        if self._cluster is not None and event.cluster != self._cluster:
            return None
        key = (event.cluster, event.client, event.target)
        if key in self._memo:
            return self._memo[key]
        found = self._search(event.client, event.target)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = found
        return found

    def covers(self, event: FlowEvent) -> bool:
        return self.covering(event) is not None

    def _search(self, client: Workload, target: Target) -> IntentRef | None:
        refs = self._by_client.get((client.namespace, client.name), ())
        for ref in sorted(refs):
            intents = self._intents[ref]
            kind = intents.workload_kind
            if kind is not None and kind.lower() != client.kind.lower():
                continue
            if any(_allows(grant, target) for grant in intents.grants):
                return ref
        return None

    def _add(self, ref: IntentRef, document: object) -> None:
        try:
            read = read_intents(document)
            grants = tuple(grant for entry in read.targets
                           if (grant := _grant(entry, ref.namespace)) is not None)
        except NotIntents as exc:
            self._unreadable_document(ref, str(exc))
            return
        except Exception as exc:  # a shape nobody foresaw must not stop the service
            self._unreadable_document(ref, f"{type(exc).__name__}: {exc}")
            return
        self._unreadable.pop(ref, None)
        self._intents[ref] = _Intents(ref, read.workload_name, read.workload_kind, grants)
        self._by_client.setdefault((ref.namespace, read.workload_name), set()).add(ref)

    def _unreadable_document(self, ref: IntentRef, reason: str) -> None:
        """It grants nothing, so its flows keep making cards. The reason is cut short, as an
        exception's text may quote the document."""
        reason = reason[:_REASON_LIMIT]
        if self._unreadable.get(ref) != reason:
            self._unreadable[ref] = reason
            log.warning("ClientIntents %s grants nothing: %s", ref, reason)

    def _drop(self, ref: IntentRef) -> bool:
        intents = self._intents.pop(ref, None)
        if intents is None:
            return False
        key = (ref.namespace, intents.workload_name)
        refs = self._by_client.get(key)
        if refs is not None:
            refs.discard(ref)
            if not refs:
                del self._by_client[key]
        return True

    def _changed(self) -> None:
        self._memo.clear()
        self.generation += 1


def _grant(entry: Entry, namespace: str) -> _Grant | None:
    ((key, body),) = entry.items()
    if key in ("kubernetes", "service"):
        name, target_namespace = split_name(str(body["name"]), namespace)
        kind = body.get("kind") if isinstance(body.get("kind"), str) else None
        service = key == "service" or (kind is not None and kind.lower() == "service")
        return _InCluster(service=service, name=name, namespace=target_namespace,
                          kind=None if service or kind is None else kind.lower(),
                          calls=_rules(body.get("http"), "path", "methods"))
    if key == "kafka":
        name, target_namespace = split_name(str(body["name"]), namespace)
        return _Kafka(name, target_namespace, _rules(body.get("topics"), "name", "operations"))
    return _Internet(domains=tuple(str(domain).lower() for domain in _list(body, "domains")),
                     networks=tuple(_networks(_list(body, "ips"))),
                     ports=frozenset(port for port in _list(body, "ports")
                                     if isinstance(port, int)))


def _allows(grant: _Grant, target: Target) -> bool:
    match target:
        case KubernetesTarget():
            if not isinstance(grant, _InCluster) or (grant.name, grant.namespace) != (
                    target.name, target.namespace):
                return False
            if not _kind_allows(grant, target.kind):
                return False
            http = target.http
            return http is None or _listed(grant.calls, http.path, http.method, "*")
        case KafkaTarget():
            return (isinstance(grant, _Kafka)
                    and (grant.name, grant.namespace) == (target.name, target.namespace)
                    and _listed(grant.topics, target.topic, target.operation, "all"))
        case InternetTarget():
            if not isinstance(grant, _Internet):
                return False
            if grant.ports and target.port not in grant.ports:
                return False
            return ((target.domain is not None and _domain_allowed(grant, target.domain))
                    or (target.ip is not None and _ip_allowed(grant, target.ip)))


def _kind_allows(grant: _InCluster, kind: str | None) -> bool:
    flow_is_service = kind is not None and kind.lower() == "service"
    if grant.service:
        return flow_is_service
    if grant.kind is None:
        return True
    return kind is None or grant.kind == kind.lower()


def _listed(rules: tuple[tuple[str, frozenset[str]], ...], name: str, action: str,
            wildcard: str) -> bool:
    """No rules: everything. Else a rule for `name` that lists `action` (or lists nothing)."""
    if not rules:
        return True
    for pattern, actions in rules:
        matches = pattern == name or pattern == "*" or (
            pattern.endswith("*") and name.startswith(pattern[:-1]))
        if matches and (not actions or action in actions or wildcard in actions):
            return True
    return False


def _rules(raw: object, key: str, actions: str) -> tuple[tuple[str, frozenset[str]], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple((str(rule[key]), frozenset(str(action) for action in _list(rule, actions)))
                 for rule in raw if isinstance(rule, Mapping) and isinstance(rule.get(key), str))


def _domain_allowed(grant: _Internet, domain: str) -> bool:
    return any(allowed == domain or (allowed.startswith("*.") and domain.endswith(allowed[1:]))
               for allowed in grant.domains)


def _ip_allowed(grant: _Internet, ip: str) -> bool:
    try:
        flow = ipaddress.ip_network(ip, strict=False)
    except ValueError:
        return False
    return any(flow.version == network.version and flow.subnet_of(network)  # type: ignore[arg-type]
               for network in grant.networks)


def _networks(values: list[Any]) -> list[Network]:
    found: list[Network] = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            continue  # a malformed address grants nothing
    return found


def _list(body: object, key: str) -> list[Any]:
    value = body.get(key) if isinstance(body, Mapping) else None
    return value if isinstance(value, list) else []
