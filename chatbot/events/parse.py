"""Parse and validate one Kafka record as a schema-v1 flow-anomaly event: the reference
parser, and the slow path of the fast one (chatbot/events/decoder.py).

Anything that is not a valid event raises :class:`BadEvent` with a reason a person can act
on and a :class:`Problem` code; the pipeline sends the record to the dead-letter topic with
that reason. Pure: no I/O and no state of its own — a caller that wants name checks
remembered passes its own :class:`NameChecks`.

JSON semantics throughout: ``null`` is an absent field, and a number with no fractional part
(``1.0``) is that integer, as the published JSON Schema reads it.
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
from chatbot.events.names import NameChecks
from chatbot.events.problem import Problem
from chatbot.events.wire import MAX_COUNT, MAX_EVENT_BYTES, MAX_LABELS, MAX_TIMESTAMP

_E = TypeVar("_E", Reason, Severity)

SCHEMA_VERSION = 1

TOP_FIELDS = frozenset(
    {"schema_version", "event_id", "observed_at", "cluster", "client", "target",
     "reason", "severity", "count"}
)
CLIENT_FIELDS = frozenset({"name", "namespace", "kind", "labels", "service_account"})
TARGET_FIELDS = {
    TargetType.KUBERNETES: frozenset({"type", "name", "namespace", "kind", "port", "protocol",
                                      "http"}),
    TargetType.KAFKA: frozenset({"type", "name", "namespace", "topic", "operation"}),
    TargetType.INTERNET: frozenset({"type", "domain", "ip", "port", "protocol"}),
}
HTTP_FIELDS = frozenset({"path", "method"})
_TARGET_TYPES = {member.value: member for member in TargetType}
_MEMBERS: dict[type[Reason] | type[Severity], dict[object, Reason | Severity]] = {
    Reason: {member.value: member for member in Reason},
    Severity: {member.value: member for member in Severity},
}
PLAIN = NameChecks()  # stateless: every name checked afresh


def parse_event(raw: bytes, *, checks: NameChecks = PLAIN) -> FlowEvent:
    """Decode and validate; raise BadEvent naming the first problem found."""
    if len(raw) > MAX_EVENT_BYTES:
        raise BadEvent(f"event is {len(raw)} bytes, over the {MAX_EVENT_BYTES}-byte limit",
                       category=Problem.OVERSIZE)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _not_utf8(raw):
            raise BadEvent("event is not valid UTF-8", category=Problem.NOT_UTF8) from exc
        raise BadEvent(f"malformed JSON: {exc}", category=Problem.MALFORMED_JSON) from exc
    if not isinstance(doc, dict):
        raise BadEvent("event must be a JSON object", category=Problem.NOT_OBJECT)
    return event_from_document(doc, checks=checks)


def event_from_document(doc: Mapping[str, Any], *, checks: NameChecks = PLAIN) -> FlowEvent:
    _no_unknown(doc, TOP_FIELDS, "")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise BadEvent(f"unsupported schema_version {version!r} (this service reads 1)",
                       category=Problem.SCHEMA_VERSION)
    return FlowEvent(
        event_id=_string(doc, "event_id", names.is_event_id, "1-128 printable chars"),
        observed_at=timestamp(doc.get("observed_at")),
        cluster=_string(doc, "cluster", checks.object_name, "a DNS-1123 name"),
        client=workload_from_document(_object(doc, "client"), checks=checks),
        target=target_from_document(_object(doc, "target"), checks=checks),
        reason=_enum(doc, "reason", Reason, Reason.NO_INTENT),
        severity=_enum(doc, "severity", Severity, Severity.MEDIUM),
        count=_count(doc),
    )


def workload_from_document(doc: Mapping[str, Any], *, checks: NameChecks = PLAIN) -> Workload:
    _no_unknown(doc, CLIENT_FIELDS, "client.")
    labels = doc.get("labels", {})
    if not isinstance(labels, dict):
        raise BadEvent("field 'client.labels' must be an object of strings",
                       category=Problem.WRONG_TYPE)
    if len(labels) > MAX_LABELS:
        raise BadEvent(f"field 'client.labels' has over {MAX_LABELS} entries")
    for key, value in labels.items():
        if not checks.label_key(key):
            raise BadEvent(f"label key {_shown(key)} in 'client.labels' is not a valid label key")
        if not isinstance(value, str) or not checks.label_value(value):
            raise BadEvent(f"label {_shown(key)} in 'client.labels' has an invalid value")
    return Workload(
        name=_string(doc, "name", checks.object_name, "a DNS-1123 name", "client."),
        namespace=_string(doc, "namespace", checks.namespace, "a DNS-1123 label", "client."),
        kind=_string(doc, "kind", checks.kind, "a Kubernetes kind", "client."),
        labels=labels,
        service_account=(_string(doc, "service_account", checks.object_name,
                                 "a DNS-1123 name", "client.")
                         if doc.get("service_account") is not None else None),
    )


def target_from_document(doc: Mapping[str, Any], *, checks: NameChecks = PLAIN) -> Target:
    kind = doc.get("type")
    target_type = _TARGET_TYPES.get(kind) if isinstance(kind, str) else None
    if target_type is None:
        raise BadEvent(
            f"field 'target.type' must be one of kubernetes, kafka, internet, not {_shown(kind)}"
        )
    _no_unknown(doc, TARGET_FIELDS[target_type], "target.")
    p = "target."
    if target_type is TargetType.KAFKA:
        operation = _string(doc, "operation", names.KAFKA_OPERATIONS.__contains__,
                            "a Kafka operation such as produce or consume", p)
        return KafkaTarget(
            name=_string(doc, "name", checks.object_name, "a DNS-1123 name", p),
            namespace=_string(doc, "namespace", checks.namespace, "a DNS-1123 label", p),
            topic=_string(doc, "topic", checks.topic, "a Kafka topic name", p),
            operation=operation,
        )
    if target_type is TargetType.INTERNET:
        domain = _optional_string(doc, "domain", checks.domain, "a DNS name", p)
        ip = _optional_string(doc, "ip", checks.ip, "an IP address or CIDR", p)
        if domain is None and ip is None:
            raise BadEvent("an internet target needs 'target.domain' or 'target.ip'",
                           category=Problem.MISSING_FIELD)
        return InternetTarget(domain=domain and domain.lower(), ip=ip, port=_port(doc),
                              protocol=_protocol(doc))
    http = doc.get("http")
    return KubernetesTarget(
        name=_string(doc, "name", checks.object_name, "a DNS-1123 name", p),
        namespace=_string(doc, "namespace", checks.namespace, "a DNS-1123 label", p),
        kind=_optional_string(doc, "kind", checks.kind, "a Kubernetes kind", p),
        port=_port(doc),
        protocol=_protocol(doc),
        http=None if http is None else _http(http, checks),
    )


def timestamp(value: object, key: str = "observed_at") -> datetime:
    """An RFC 3339 time with its offset; ``value`` is the field as decoded."""
    if type(value) is not str or len(value) > MAX_TIMESTAMP:
        value = _string({key: value}, key, lambda s: len(s) <= MAX_TIMESTAMP, "an RFC 3339 time")
    if names.TIMESTAMP.fullmatch(value) is None:
        if names.TIMESTAMP.fullmatch(value + "Z") is not None:
            raise BadEvent(f"field '{key}' needs a time zone offset (e.g. Z)")
        raise BadEvent(f"field '{key}' is {_shown(value)}, not an RFC 3339 time")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise BadEvent(f"field '{key}' is {_shown(value)}, not an RFC 3339 time") from None


def _http(doc: object, checks: NameChecks) -> HttpCall:
    if not isinstance(doc, dict):
        raise BadEvent("field 'target.http' must be an object with path and method",
                       category=Problem.WRONG_TYPE)
    _no_unknown(doc, HTTP_FIELDS, "target.http.")
    return HttpCall(
        path=_string(doc, "path", checks.http_path,
                     "a path starting with / (printable, no spaces, ≤1024)", "target.http."),
        method=_string(doc, "method", names.HTTP_METHODS.__contains__, "an HTTP method",
                       "target.http."),
    )


def _string(
    doc: Mapping[str, Any], key: str, valid: Callable[[str], object], rule: str, prefix: str = ""
) -> str:
    if doc.get(key) is None:  # null is absent too: a BadEvent, never the assert below
        raise BadEvent(f"missing field '{prefix}{key}'", category=Problem.MISSING_FIELD)
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
        raise BadEvent(f"field '{prefix}{key}' must be a string", category=Problem.WRONG_TYPE)
    if not valid(value):
        raise BadEvent(f"field '{prefix}{key}' is {_shown(value)}, not {rule}")
    return value


def _object(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if value is None:
        raise BadEvent(f"missing field '{key}'", category=Problem.MISSING_FIELD)
    if not isinstance(value, dict):
        raise BadEvent(f"field '{key}' must be an object", category=Problem.WRONG_TYPE)
    return value


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
    value = _integer(doc.get("count", 1), 1, MAX_COUNT)
    if value is None:
        raise BadEvent(f"field 'count' must be an integer from 1 to {MAX_COUNT}")
    return value


def _port(doc: Mapping[str, Any]) -> int | None:
    value = doc.get("port")
    if value is None:
        return None
    port = _integer(value, 1, 65535)
    if port is None:
        raise BadEvent("field 'target.port' must be an integer from 1 to 65535")
    return port


def _integer(value: object, low: int, high: int) -> int | None:
    """``value`` as an int in [low, high], else None; ``3.0`` is 3 (JSON has one number
    type), ``true`` is not a number."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return None
    return value


def _protocol(doc: Mapping[str, Any]) -> str | None:
    return _optional_string(doc, "protocol", names.PROTOCOLS.__contains__, "TCP, UDP or SCTP",
                            "target.")


def _no_unknown(doc: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    if doc.keys() <= known:
        return
    for key in doc:
        if key not in known:
            raise BadEvent(f"unknown field '{prefix}{_shown(key)[1:-1]}'",
                           category=Problem.UNKNOWN_FIELD)


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
