"""``otterize network-mapper export`` output -> FlowEvents with reason ``new-connection``. Pure.

The export is YAML (one ClientIntents per document, ``---`` between them; v2beta1 by default,
v1alpha3 with ``--output-version v1``) or JSON (an array of v2beta1 objects); hand-edited
files may also be a ``List`` with ``items`` and v2alpha1. Every target becomes one event per
thing the model can name: one per HTTP path and method, Kafka topic and operation, internet
domain or address and port. What cannot be imported is reported in ``problems`` (with the
document it came from) and the rest goes on.

In the flow: ``chatbot import-intents FILE`` -> :func:`parse_export` -> coverage (drop what
the cluster already allows) -> the same path as Kafka events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import yaml

from chatbot.errors import PermanentError
from chatbot.events import names
from chatbot.events.codec import target_to_dict
from chatbot.events.model import (
    FlowEvent,
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Target,
    Workload,
)
from chatbot.intents.shapes import Entry, NotIntents, read_intents, split_name

DEFAULT_KIND = "Deployment"
"""The workload kind assumed when an export names none (v1alpha3 exports never do)."""
MAX_EVENTS = 100_000


class BadExport(PermanentError):
    """The file is not a network-mapper export at all (not YAML/JSON, not ClientIntents)."""


@dataclass
class ImportResult:
    events: list[FlowEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    documents: int = 0


def parse_export(text: str | bytes, *, cluster: str, observed_at: datetime,
                 default_kind: str = DEFAULT_KIND,
                 default_namespace: str | None = None) -> ImportResult:
    result = ImportResult()
    for position, document in enumerate(_documents(text), start=1):
        where = f"document {position}"
        try:
            intents = read_intents(document)
        except NotIntents as exc:
            result.problems.append(f"{where}: {exc}")
            continue
        result.documents += 1
        namespace = intents.namespace or default_namespace
        where = f"ClientIntents {namespace}/{intents.name}" if intents.name else where
        result.problems += [f"{where}: {problem}" for problem in intents.problems]
        kind = intents.workload_kind or default_kind
        if namespace is None or not names.is_namespace(namespace):
            result.problems.append(f"{where}: needs a valid metadata.namespace")
            continue
        if not names.is_object_name(intents.workload_name) or not names.KIND.fullmatch(kind):
            result.problems.append(f"{where}: workload {intents.workload_name!r} ({kind}) is "
                                   "not a Kubernetes workload name and kind")
            continue
        client = Workload(name=intents.workload_name, namespace=namespace, kind=kind)
        for index, entry in enumerate(intents.targets):
            try:
                targets = list(_targets(entry, namespace))
            except _Unusable as exc:
                result.problems.append(f"{where}: spec.targets[{index}]: {exc}")
                continue
            for target, note in targets:
                if note:
                    result.problems.append(f"{where}: spec.targets[{index}]: {note}")
                if target is not None:
                    result.events.append(_event(client, target, cluster, observed_at))
        if len(result.events) > MAX_EVENTS:
            raise BadExport(f"the export names over {MAX_EVENTS} targets")
    return result


class _Unusable(ValueError):
    """One target that cannot be imported; the message says why."""


def _targets(entry: Entry, namespace: str) -> Iterator[tuple[Target | None, str | None]]:
    ((key, body),) = entry.items()
    if key in ("kubernetes", "service"):
        name, target_namespace = _names(body, namespace)
        kind = "Service" if key == "service" else _kind(body.get("kind"))
        calls = body.get("http")
        if not calls:
            yield KubernetesTarget(name, target_namespace, kind, None, None), None
            return
        for call in _list(calls, "http"):
            path = call.get("path") if isinstance(call, Mapping) else None
            if not isinstance(path, str) or not names.HTTP_PATH.fullmatch(path):
                raise _Unusable(f"HTTP path {path!r} is not a path starting with /")
            methods = _list(call.get("methods"), "methods")
            if not methods:
                yield (KubernetesTarget(name, target_namespace, kind, None, None),
                       f"path {path} lists no methods: imported as access to the whole target")
            for method in methods:
                if method not in names.HTTP_METHODS:
                    raise _Unusable(f"HTTP method {method!r} is not one Otterize accepts")
                yield (KubernetesTarget(name, target_namespace, kind, None, None,
                                        HttpCall(path=path, method=method)), None)
    elif key == "kafka":
        name, target_namespace = _names(body, namespace)
        topics = _list(body.get("topics"), "topics")
        if not topics:
            yield None, f"kafka server {name} lists no topics: nothing to import"
        for topic in topics:
            topic_name = topic.get("name") if isinstance(topic, Mapping) else None
            if not isinstance(topic_name, str) or not names.KAFKA_TOPIC.fullmatch(topic_name):
                raise _Unusable(f"Kafka topic {topic_name!r} is not a topic name")
            operations = _list(topic.get("operations"), "operations")
            if not operations:
                yield None, f"Kafka topic {topic_name} lists no operations: nothing to import"
            for operation in operations:
                if operation not in names.KAFKA_OPERATIONS:
                    raise _Unusable(f"Kafka operation {operation!r} is not one Otterize accepts")
                yield KafkaTarget(name, target_namespace, topic_name, operation), None
    else:
        yield from _internet(body)


def _internet(body: Mapping[str, Any]) -> Iterator[tuple[Target | None, str | None]]:
    domains = _list(body.get("domains"), "domains")
    ips = _list(body.get("ips"), "ips")
    ports = _list(body.get("ports"), "ports") or [None]
    if not domains and not ips:
        raise _Unusable("an internet target needs domains or ips")
    for port in ports:
        if port is not None and (type(port) is not int or not 1 <= port <= 65535):
            raise _Unusable(f"port {port!r} is not a port number")
    for domain in domains:
        if not isinstance(domain, str) or not names.is_domain(domain):
            raise _Unusable(f"domain {domain!r} is not a DNS name")
        for port in ports:
            yield InternetTarget(domain.lower(), None, port, None), None
    for ip in ips:
        if not isinstance(ip, str) or not names.is_ip(ip):
            raise _Unusable(f"address {ip!r} is not an IP address or CIDR")
        for port in ports:
            yield InternetTarget(None, ip, port, None), None


def _names(body: Mapping[str, Any], namespace: str) -> tuple[str, str]:
    name, target_namespace = split_name(str(body["name"]), namespace)
    if not names.is_object_name(name) or not names.is_namespace(target_namespace):
        raise _Unusable(f"{body['name']!r} is not name or name.namespace")
    return name, target_namespace


def _kind(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not names.KIND.fullmatch(value):
        raise _Unusable(f"kind {value!r} is not a Kubernetes kind")
    return value


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unusable(f"{what} must be a list")
    return value


def _event(client: Workload, target: Target, cluster: str, observed_at: datetime) -> FlowEvent:
    # The same discovery imported twice is the same event: the store's redelivery check holds.
    identity = "\x00".join(("import-v1", cluster, client.namespace, client.name, client.kind,
                            orjson.dumps(target_to_dict(target),
                                         option=orjson.OPT_SORT_KEYS).decode()))
    event_id = "network-mapper-" + hashlib.sha256(identity.encode()).hexdigest()[:32]
    return FlowEvent(event_id=event_id, observed_at=observed_at, cluster=cluster,
                     client=client, target=target, reason=Reason.NEW_CONNECTION)


def _documents(text: str | bytes) -> Iterator[object]:
    """Each ClientIntents-looking object in the file, Lists and JSON arrays unpacked."""
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as exc:
        raise BadExport(f"not UTF-8 text: {exc}") from exc
    loaded: list[object]
    if raw.lstrip().startswith(("[", "{")):
        try:
            loaded = [orjson.loads(raw)]
        except orjson.JSONDecodeError:
            loaded = _yaml(raw)  # YAML flow style starts the same way
    else:
        loaded = _yaml(raw)
    for document in loaded:
        if document is None:
            continue
        if isinstance(document, list):
            yield from document
        elif isinstance(document, Mapping) and isinstance(document.get("items"), list):
            yield from document["items"]
        else:
            yield document


def _yaml(raw: str) -> list[object]:
    try:
        return list(yaml.safe_load_all(raw))
    except yaml.YAMLError as exc:
        raise BadExport(f"not YAML or JSON: {exc}") from exc
