"""One side of a Hubble flow (``flow.Endpoint`` in Cilium's flow.proto), validated and
classified: a pod (with or without its workload), the world, or a Cilium entity with no
workload identity (host, remote node, health, kube-apiserver...).

Labels arrive as ``source:key=value`` strings, sorted, as Cilium's identity labels. Only the
``k8s:`` ones are the pod's own labels; Cilium's bookkeeping (``io.cilium.k8s.*``,
``io.kubernetes.pod.*``) and the other sources are dropped. Anything malformed is a BadEvent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from chatbot.errors import BadEvent
from chatbot.events import names
from chatbot.events.hubble_outcome import Owner
from chatbot.events.model import Workload

MAX_RAW_LABELS = 256
"""Cilium identities carry tens of labels; hundreds is a hostile or broken record."""
MAX_LABELS = 64
"""Kept labels, the same bound as schema-v1's ``client.labels``."""
MAX_LABEL_CHARS = 1024
MAX_WORKLOADS = 8
LOCAL_SCOPE_IDENTITY = 1 << 24
"""Numeric identities from here up are node-local CIDR/FQDN identities: the world."""
_CACHE_LIMIT = 10_000
MAX_CACHED_BYTES = 8192
_INTERNAL_PREFIXES = ("io.cilium.", "io.kubernetes.pod.")
_WORLD_SOURCES = frozenset({"cidr", "fqdn", "cidrgroup"})


class Entity(StrEnum):
    POD = "pod"
    WORLD = "world"
    HOST = "host"
    REMOTE_NODE = "remote-node"
    HEALTH = "health"
    KUBE_APISERVER = "kube-apiserver"
    OTHER = "other"


# Cilium's reserved identities (pkg/identity/numericidentity.go) and labels, by entity.
_RESERVED_IDS = {1: Entity.HOST, 2: Entity.WORLD, 4: Entity.HEALTH, 6: Entity.REMOTE_NODE,
                 7: Entity.KUBE_APISERVER, 9: Entity.WORLD, 10: Entity.WORLD}
_RESERVED_LABELS = (("kube-apiserver", Entity.KUBE_APISERVER), ("host", Entity.HOST),
                    ("remote-node", Entity.REMOTE_NODE), ("health", Entity.HEALTH),
                    ("world", Entity.WORLD), ("world-ipv4", Entity.WORLD),
                    ("world-ipv6", Entity.WORLD))


@dataclass(frozen=True, slots=True)
class Endpoint:
    entity: Entity
    namespace: str | None
    pod: str | None
    workload: Owner | None
    labels: Mapping[str, str]
    cluster: str | None
    client: Workload | None = None
    """This endpoint as a flow's client, when it is a pod whose workload Hubble names: built
    once with the cached endpoint instead of once per record."""


@dataclass(frozen=True, slots=True)
class _Labels:
    own: dict[str, str]
    reserved: frozenset[str]
    world_marked: bool


class _Bounded:
    """A check that remembers what it accepted; starts over when full (see parse.py)."""

    def __init__(self, check: Callable[[str], object]) -> None:
        self._check = check
        self._accepted: set[str] = set()

    def __call__(self, value: str) -> bool:
        if value in self._accepted:
            return True
        if not self._check(value):
            return False
        if len(self._accepted) >= _CACHE_LIMIT:
            self._accepted.clear()
        self._accepted.add(value)
        return True


_NAMESPACE = _Bounded(names.is_namespace)
_OBJECT_NAME = _Bounded(names.is_object_name)
_KIND = _Bounded(names.KIND.fullmatch)
# A flood repeats the same few endpoints and identities, so each is validated once per content.
_LABEL_SETS: dict[tuple[str, ...], _Labels] = {}
_ENDPOINTS: dict[bytes, Endpoint] = {}


def read_endpoint(doc: object, side: str) -> Endpoint:
    # The endpoint's JSON is its cache key: equal text, equal endpoint (the side only changes
    # the wording of a BadEvent, and those are never cached).
    key = _key(doc)
    if key is not None:
        known = _ENDPOINTS.get(key)
        if known is not None:
            return known
    endpoint = _read_endpoint(doc, side)
    if key is not None:
        if len(_ENDPOINTS) >= _CACHE_LIMIT:
            _ENDPOINTS.clear()
        _ENDPOINTS[key] = endpoint
    return endpoint


def _key(doc: object) -> bytes | None:
    if type(doc) is not dict:
        return None
    try:
        key = orjson.dumps(doc)
    except TypeError:  # nested deeper than orjson writes: not an endpoint anyway
        return None
    # Only ordinary endpoints are remembered, so hostile records cannot fill the memory.
    return key if len(key) <= MAX_CACHED_BYTES else None


def _read_endpoint(doc: object, side: str) -> Endpoint:
    if doc is None:
        raise BadEvent(f"missing field 'flow.{side}'")
    if not isinstance(doc, dict):
        raise BadEvent(f"field 'flow.{side}' must be an object")
    identity = doc.get("identity", 0)
    if type(identity) is not int or identity < 0:
        raise BadEvent(f"field 'flow.{side}.identity' must be a non-negative integer")
    labels = _labels(doc.get("labels"), side)
    namespace = _name(doc, "namespace", side, _NAMESPACE, "a DNS-1123 label")
    pod = _name(doc, "pod_name", side, _OBJECT_NAME, "a DNS-1123 name")
    cluster = _name(doc, "cluster_name", side, _OBJECT_NAME, "a DNS-1123 name")
    workload = _workload(doc.get("workloads"), side)
    entity = _entity(identity, labels, namespace, pod, workload)
    client = None
    if entity is Entity.POD and namespace is not None and workload is not None:
        client = Workload(name=workload.name, namespace=namespace, kind=workload.kind,
                          labels=dict(labels.own))
    return Endpoint(entity=entity, namespace=namespace, pod=pod, workload=workload,
                    labels=labels.own, cluster=cluster, client=client)


def _entity(identity: int, labels: _Labels, namespace: str | None, pod: str | None,
            workload: Owner | None) -> Entity:
    for label, entity in _RESERVED_LABELS:
        if label in labels.reserved:
            return entity
    if labels.reserved:
        return Entity.OTHER
    if identity in _RESERVED_IDS:
        return _RESERVED_IDS[identity]
    if namespace is None and (labels.world_marked or identity >= LOCAL_SCOPE_IDENTITY):
        return Entity.WORLD
    if 0 < identity < 256:
        return Entity.OTHER  # another reserved or well-known identity
    if namespace is not None and (pod is not None or workload is not None):
        return Entity.POD
    return Entity.OTHER


def _labels(raw: object, side: str) -> _Labels:
    if raw is None:
        return _Labels({}, frozenset(), False)
    if not isinstance(raw, list):
        raise BadEvent(f"field 'flow.{side}.labels' must be a list of strings")
    if len(raw) > MAX_RAW_LABELS:
        raise BadEvent(f"field 'flow.{side}.labels' has {len(raw)} entries, over "
                       f"{MAX_RAW_LABELS}")
    for label in raw:
        if type(label) is not str or len(label) > MAX_LABEL_CHARS:
            raise BadEvent(f"field 'flow.{side}.labels' must hold strings of at most "
                           f"{MAX_LABEL_CHARS} characters")
    key = tuple(raw)
    known = _LABEL_SETS.get(key)
    if known is None:
        known = _parse_labels(key, side)
        if sum(map(len, key)) <= MAX_CACHED_BYTES:
            if len(_LABEL_SETS) >= _CACHE_LIMIT:
                _LABEL_SETS.clear()
            _LABEL_SETS[key] = known
    return known


def _parse_labels(raw: tuple[str, ...], side: str) -> _Labels:
    own: dict[str, str] = {}
    reserved: set[str] = set()
    world_marked = False
    for label in raw:
        source, colon, rest = label.partition(":")
        if not colon:
            raise BadEvent(f"label {_shown(label)} in 'flow.{side}.labels' has no source "
                           "prefix (source:key=value)")
        if source == "reserved":
            reserved.add(rest.partition("=")[0])
        elif source in _WORLD_SOURCES:
            world_marked = True
        elif source == "k8s":
            key, _, value = rest.partition("=")
            if key.startswith(_INTERNAL_PREFIXES):
                continue
            if not names.is_label_key(key) or not names.is_label_value(value):
                raise BadEvent(f"label {_shown(label)} in 'flow.{side}.labels' is not a "
                               "Kubernetes label")
            own[key] = value
    if len(own) > MAX_LABELS:
        raise BadEvent(f"field 'flow.{side}.labels' has over {MAX_LABELS} pod labels")
    return _Labels(own, frozenset(reserved), world_marked)


def _name(doc: Mapping[str, Any], key: str, side: str, valid: Callable[[str], bool],
          rule: str) -> str | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise BadEvent(f"field 'flow.{side}.{key}' must be a string")
    if not valid(value):
        raise BadEvent(f"field 'flow.{side}.{key}' is {_shown(value)}, not {rule}")
    return value


def _workload(raw: object, side: str) -> Owner | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_WORKLOADS:
        raise BadEvent(f"field 'flow.{side}.workloads' must be a list of at most "
                       f"{MAX_WORKLOADS} objects")
    if not raw:
        return None
    first = raw[0]
    if not isinstance(first, dict):
        raise BadEvent(f"field 'flow.{side}.workloads' must hold objects with name and kind")
    name = _name(first, "name", f"{side}.workloads[0]", _OBJECT_NAME, "a DNS-1123 name")
    kind = _name(first, "kind", f"{side}.workloads[0]", _KIND, "a Kubernetes kind")
    if name is None or kind is None:
        raise BadEvent(f"field 'flow.{side}.workloads[0]' needs a name and a kind")
    return Owner(name=name, kind=kind)


def _shown(value: object, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-1]
