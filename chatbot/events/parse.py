"""Parse and validate one Kafka record as a schema-v1 flow-anomaly event.

Anything that is not a valid event raises :class:`BadEvent` with a reason a person can act
on; the pipeline sends the record to the dead-letter topic with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import orjson

from chatbot.errors import BadEvent
from chatbot.events import names
from chatbot.events.model import (
    FlowEvent,
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    TargetType,
    Workload,
)

_E = TypeVar("_E", Reason, Severity)
_V = TypeVar("_V")

SCHEMA_VERSION = 1
MAX_EVENT_BYTES = 64 * 1024
MAX_LABELS = 64
MAX_COUNT = 1_000_000_000

_TOP_FIELDS = frozenset(
    {"schema_version", "event_id", "observed_at", "cluster", "client", "target",
     "reason", "severity", "count"}
)
_CLIENT_FIELDS = frozenset({"name", "namespace", "kind", "labels", "service_account"})
_TARGET_FIELDS = {
    TargetType.KUBERNETES: frozenset({"type", "name", "namespace", "kind", "port", "protocol",
                                      "http"}),
    TargetType.KAFKA: frozenset({"type", "name", "namespace", "topic", "operation"}),
    TargetType.INTERNET: frozenset({"type", "domain", "ip", "port", "protocol"}),
}


class _Remembered:
    """A name check that remembers the names it accepted. Events repeat the same few
    namespaces, workloads and kinds, so a set lookup replaces most regular-expression runs;
    the set is bounded and starts over when full."""

    def __init__(self, check: Callable[[str], object], limit: int = 10_000) -> None:
        self._check = check
        self._limit = limit
        self._accepted: set[str] = set()

    def __call__(self, value: str) -> bool:
        if value in self._accepted:
            return True
        if not self._check(value):
            return False
        if len(self._accepted) >= self._limit:
            self._accepted.clear()
        self._accepted.add(value)
        return True


_OBJECT_NAME = _Remembered(names.is_object_name)
_NAMESPACE = _Remembered(names.is_namespace)
_KIND = _Remembered(names.KIND.fullmatch)
_LABEL_KEY = _Remembered(names.is_label_key)
_LABEL_VALUE = _Remembered(names.is_label_value)
_TOPIC = _Remembered(names.KAFKA_TOPIC.fullmatch)
_DOMAIN = _Remembered(names.is_domain)
_IP = _Remembered(names.is_ip)
_HTTP_PATH = _Remembered(names.HTTP_PATH.fullmatch)
_HTTP_FIELDS = frozenset({"path", "method"})
_TARGET_TYPES = {member.value: member for member in TargetType}
# Client and target objects already validated, by content (see _content_key): a flood
# repeats the same few flows, so most events skip their validation entirely.
_WORKLOADS: dict[tuple[object, ...], Workload] = {}
_TARGETS: dict[tuple[object, ...], Target] = {}
_REMEMBERED_OBJECTS = 10_000
_MEMBERS: dict[type[Reason] | type[Severity], dict[object, Reason | Severity]] = {
    Reason: {member.value: member for member in Reason},
    Severity: {member.value: member for member in Severity},
}


def parse_event(raw: bytes) -> FlowEvent:
    """Decode and validate; raise BadEvent naming the first problem found."""
    if len(raw) > MAX_EVENT_BYTES:
        raise BadEvent(f"event is {len(raw)} bytes, over the {MAX_EVENT_BYTES}-byte limit")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _not_utf8(raw):
            raise BadEvent("event is not valid UTF-8") from exc
        raise BadEvent(f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadEvent("event must be a JSON object")
    return event_from_document(doc)


def event_from_document(doc: Mapping[str, Any]) -> FlowEvent:
    _no_unknown(doc, _TOP_FIELDS, "")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise BadEvent(f"unsupported schema_version {version!r} (this service reads 1)")
    return FlowEvent(
        event_id=_string(doc, "event_id", names.EVENT_ID.fullmatch, "1-128 printable chars"),
        observed_at=_timestamp(doc, "observed_at"),
        cluster=_string(doc, "cluster", _OBJECT_NAME, "a DNS-1123 name"),
        client=_workload(_object(doc, "client")),
        target=_target(_object(doc, "target")),
        reason=_enum(doc, "reason", Reason, Reason.NO_INTENT),
        severity=_enum(doc, "severity", Severity, Severity.MEDIUM),
        count=_count(doc),
    )


def _workload(doc: Mapping[str, Any]) -> Workload:
    key = _content_key(doc)
    known = _WORKLOADS.get(key) if key is not None else None
    if known is not None:
        return known
    workload = _new_workload(doc)
    _remember(_WORKLOADS, key, workload)
    return workload


def _target(doc: Mapping[str, Any]) -> Target:
    key = _content_key(doc)
    known = _TARGETS.get(key) if key is not None else None
    if known is not None:
        return known
    target = _new_target(doc)
    _remember(_TARGETS, key, target)
    return target


def _new_workload(doc: Mapping[str, Any]) -> Workload:
    _no_unknown(doc, _CLIENT_FIELDS, "client.")
    labels = doc.get("labels", {})
    if not isinstance(labels, dict):
        raise BadEvent("field 'client.labels' must be an object of strings")
    if len(labels) > MAX_LABELS:
        raise BadEvent(f"field 'client.labels' has over {MAX_LABELS} entries")
    for key, value in labels.items():
        if not _LABEL_KEY(key):
            raise BadEvent(f"label key {_shown(key)} in 'client.labels' is not a valid label key")
        if not isinstance(value, str) or not _LABEL_VALUE(value):
            raise BadEvent(f"label {_shown(key)} in 'client.labels' has an invalid value")
    return Workload(
        name=_string(doc, "name", _OBJECT_NAME, "a DNS-1123 name", "client."),
        namespace=_string(doc, "namespace", _NAMESPACE, "a DNS-1123 label", "client."),
        kind=_string(doc, "kind", _KIND, "a Kubernetes kind", "client."),
        labels=labels,
        service_account=(_string(doc, "service_account", _OBJECT_NAME, "a DNS-1123 name",
                                 "client.") if doc.get("service_account") is not None else None),
    )


def _new_target(doc: Mapping[str, Any]) -> Target:
    kind = doc.get("type")
    target_type = _TARGET_TYPES.get(kind) if isinstance(kind, str) else None
    if target_type is None:
        raise BadEvent(
            f"field 'target.type' must be one of kubernetes, kafka, internet, not {_shown(kind)}"
        )
    _no_unknown(doc, _TARGET_FIELDS[target_type], "target.")
    p = "target."
    if target_type is TargetType.KAFKA:
        operation = _string(doc, "operation", names.KAFKA_OPERATIONS.__contains__,
                            "a Kafka operation such as produce or consume", p)
        return KafkaTarget(
            name=_string(doc, "name", _OBJECT_NAME, "a DNS-1123 name", p),
            namespace=_string(doc, "namespace", _NAMESPACE, "a DNS-1123 label", p),
            topic=_string(doc, "topic", _TOPIC, "a Kafka topic name", p),
            operation=operation,
        )
    if target_type is TargetType.INTERNET:
        domain = _optional_string(doc, "domain", _DOMAIN, "a DNS name", p)
        ip = _optional_string(doc, "ip", _IP, "an IP address or CIDR", p)
        if domain is None and ip is None:
            raise BadEvent("an internet target needs 'target.domain' or 'target.ip'")
        return InternetTarget(domain=domain and domain.lower(), ip=ip, port=_port(doc),
                              protocol=_protocol(doc))
    http = doc.get("http")
    return KubernetesTarget(
        name=_string(doc, "name", _OBJECT_NAME, "a DNS-1123 name", p),
        namespace=_string(doc, "namespace", _NAMESPACE, "a DNS-1123 label", p),
        kind=_optional_string(doc, "kind", _KIND, "a Kubernetes kind", p),
        port=_port(doc),
        protocol=_protocol(doc),
        http=None if http is None else _http(http),
    )


def _http(doc: object) -> HttpCall:
    if not isinstance(doc, dict):
        raise BadEvent("field 'target.http' must be an object with path and method")
    _no_unknown(doc, _HTTP_FIELDS, "target.http.")
    return HttpCall(
        path=_string(doc, "path", _HTTP_PATH,
                     "a path starting with / (printable, no spaces, ≤1024)", "target.http."),
        method=_string(doc, "method", names.HTTP_METHODS.__contains__, "an HTTP method",
                       "target.http."),
    )


def _string(
    doc: Mapping[str, Any], key: str, valid: Callable[[str], object], rule: str, prefix: str = ""
) -> str:
    if doc.get(key) is None:  # null is absent too: a BadEvent, never the assert below
        raise BadEvent(f"missing field '{prefix}{key}'")
    value = _optional_string(doc, key, valid, rule, prefix)
    assert value is not None
    return value


def _optional_string(
    doc: Mapping[str, Any], key: str, valid: Callable[[str], object], rule: str, prefix: str
) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadEvent(f"field '{prefix}{key}' must be a string")
    if not valid(value):
        raise BadEvent(f"field '{prefix}{key}' is {_shown(value)}, not {rule}")
    return value


def _object(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if value is None:
        raise BadEvent(f"missing field '{key}'")
    if not isinstance(value, dict):
        raise BadEvent(f"field '{key}' must be an object")
    return value


def _timestamp(doc: Mapping[str, Any], key: str) -> datetime:
    value = doc.get(key)
    if type(value) is not str or len(value) > 40:
        value = _string(doc, key, lambda s: len(s) <= 40, "an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadEvent(f"field '{key}' is {_shown(value)}, not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise BadEvent(f"field '{key}' needs a time zone offset (e.g. Z)")
    return parsed


def _enum(doc: Mapping[str, Any], key: str, enum: type[_E], default: _E) -> _E:
    value = doc.get(key)
    if value is None:
        return default
    member = _MEMBERS[enum].get(value) if isinstance(value, str) else None
    if member is None:
        allowed = ", ".join(member.value for member in enum)
        raise BadEvent(f"field '{key}' must be one of {allowed}, not {_shown(value)}")
    return member  # type: ignore[return-value]  # the table maps each enum to its own members


def _count(doc: Mapping[str, Any]) -> int:
    value = doc.get("count", 1)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
        raise BadEvent(f"field 'count' must be an integer from 1 to {MAX_COUNT}")
    return value


def _port(doc: Mapping[str, Any]) -> int | None:
    value = doc.get("port")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise BadEvent("field 'target.port' must be an integer from 1 to 65535")
    return value


def _protocol(doc: Mapping[str, Any]) -> str | None:
    return _optional_string(doc, "protocol", names.PROTOCOLS.__contains__, "TCP, UDP or SCTP",
                            "target.")


def _no_unknown(doc: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    if doc.keys() <= known:
        return
    for key in doc:
        if key not in known:
            raise BadEvent(f"unknown field '{prefix}{_shown(key)[1:-1]}'")


def _content_key(doc: Mapping[str, Any]) -> tuple[object, ...] | None:
    """A hashable copy of a JSON object whose leaves are all exactly ``str`` or ``int`` (no
    bool, float or null, which compare equal to ints or to each other), else None. Two
    objects with the same key are the same JSON, so one's validation stands for the other."""
    parts: list[object] = []
    for key, value in doc.items():
        kind = type(value)
        if kind is dict:
            value = _content_key(value)
            if value is None:
                return None
        elif kind is not str and kind is not int:
            return None
        parts.append((key, value))
    return tuple(parts)


def _remember(known: dict[tuple[object, ...], _V], key: tuple[object, ...] | None,
              value: _V) -> None:
    if key is None:
        return
    if len(known) >= _REMEMBERED_OBJECTS:
        known.clear()
    known[key] = value


def _shown(value: object, limit: int = 64) -> str:
    """A short, quoted rendering of an offending value for the dead-letter reason."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-1]


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
