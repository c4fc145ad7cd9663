"""Otterize ClientIntents in any of the shapes people and tools write, read into one: the
client workload and its ``spec.targets[]`` entries in the v2 form (v2alpha1 and v2beta1 share
it; v1alpha3's ``spec.service`` + ``spec.calls[]`` is converted the way Otterize's own
conversion webhook does). Pure; used by the coverage index and the network-mapper import.

Entries this service cannot reason about (sql, aws, gcp, azure, database calls) are dropped;
an entry that is malformed is dropped too and named in ``IntentsDoc.problems``, so one bad
target written by hand never hides the good ones. A field of the wrong type (``ports: 443``,
``kafkaTopics: 5``, ``type: [http]``) makes the whole document ``NotIntents``: the apiserver's
schema refuses such an object, and reading the field as absent would allow more than its
author wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatbot.errors import PermanentError

Entry = dict[str, Any]
_V2_KINDS = ("kubernetes", "service", "kafka", "internet")
_OTHER_V2_KINDS = frozenset({"sql", "aws", "gcp", "azure"})
_OTHER_CALL_TYPES = frozenset({"database", "aws", "gcp", "azure"})
_SERVICE_PREFIX = "svc:"
_NOUNS: dict[type, str] = {Mapping: "mappings", str: "text", int: "numbers"}


class NotIntents(PermanentError):
    """The document is not a ClientIntents object this service can read."""


@dataclass(frozen=True, slots=True)
class IntentsDoc:
    namespace: str | None
    name: str | None
    workload_name: str
    workload_kind: str | None
    targets: tuple[Entry, ...]
    problems: tuple[str, ...] = ()


def read_intents(document: object) -> IntentsDoc:
    if not isinstance(document, Mapping):
        raise NotIntents("a ClientIntents document must be a mapping")
    kind = document.get("kind")
    if kind is not None and kind != "ClientIntents":
        raise NotIntents(f"kind is {kind!r}, not ClientIntents")
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise NotIntents("metadata must be a mapping")
    namespace, name = _text(metadata.get("namespace")), _text(metadata.get("name"))
    spec = document.get("spec")
    if not isinstance(spec, Mapping):
        raise NotIntents(f"ClientIntents {name or '(unnamed)'} has no spec")
    version = str(document.get("apiVersion") or "")
    if version.endswith("/v1alpha3") or ("service" in spec and "workload" not in spec):
        return _from_v1alpha3(spec, namespace, name)
    workload = spec.get("workload")
    if not isinstance(workload, Mapping) or not _text(workload.get("name")):
        raise NotIntents(f"ClientIntents {name or '(unnamed)'} has no spec.workload.name")
    targets, problems = _v2_targets(spec.get("targets"))
    return IntentsDoc(namespace, name, str(workload["name"]), _text(workload.get("kind")),
                      targets, problems)


def split_name(name: str, default_namespace: str) -> tuple[str, str]:
    """Otterize's rule for target names: ``name`` or ``name.namespace`` (first two parts)."""
    parts = name.split(".")
    return (parts[0], parts[1]) if len(parts) > 1 else (name, default_namespace)


def _v2_targets(raw: object) -> tuple[tuple[Entry, ...], tuple[str, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        return (), ("spec.targets is not a list",)
    targets: list[Entry] = []
    problems: list[str] = []
    for index, entry in enumerate(raw):
        keys = [key for key in entry if key in _V2_KINDS] if isinstance(entry, Mapping) else []
        if isinstance(entry, Mapping) and not keys and entry.keys() & _OTHER_V2_KINDS:
            continue
        if len(keys) != 1 or not isinstance(entry[keys[0]], Mapping):
            problems.append(f"spec.targets[{index}] is not one kubernetes, service, kafka or "
                            "internet target")
            continue
        key = keys[0]
        body = dict(entry[key])
        if key != "internet" and not _text(body.get("name")):
            problems.append(f"spec.targets[{index}].{key} has no name")
            continue
        _check_fields(key, body, f"spec.targets[{index}].{key}")
        targets.append({key: body})
    return tuple(targets), tuple(problems)


def _from_v1alpha3(spec: Mapping[str, Any], namespace: str | None,
                   name: str | None) -> IntentsDoc:
    service = spec.get("service")
    if not isinstance(service, Mapping) or not _text(service.get("name")):
        raise NotIntents(f"ClientIntents {name or '(unnamed)'} has no spec.service.name")
    calls = spec.get("calls") or []
    targets: list[Entry] = []
    problems: list[str] = []
    if not isinstance(calls, list):
        calls, problems = [], ["spec.calls is not a list"]
    for index, call in enumerate(calls):
        where = f"spec.calls[{index}]"
        entry = _call_target(call, where) if isinstance(call, Mapping) else None
        if entry is None:
            if not (isinstance(call, Mapping) and call.get("type") in _OTHER_CALL_TYPES):
                problems.append(f"spec.calls[{index}] is not a call this service reads")
            continue
        targets.append(entry)
    return IntentsDoc(namespace, name, str(service["name"]), _text(service.get("kind")),
                      tuple(targets), tuple(problems))


def _call_target(call: Mapping[str, Any], where: str) -> Entry | None:
    """One v1alpha3 call as a v2 target (Otterize's ConvertTo, for the types we read)."""
    kind = _optional_text(call, "type", where) or None
    if kind == "internet":
        internet = call.get("internet")
        if not isinstance(internet, Mapping):
            return None
        _check_fields("internet", internet, f"{where}.internet")
        return {"internet": dict(internet)}
    name = _text(call.get("name"))
    if name is None or kind in _OTHER_CALL_TYPES:
        return None
    if kind == "kafka":
        topics = _items(call.get("kafkaTopics"), Mapping, f"{where}.kafkaTopics")
        _check_rules(topics, "name", "operations", f"{where}.kafkaTopics")
        return {"kafka": {"name": name, "topics": [dict(topic) for topic in topics]}}
    call_kind = _optional_text(call, "kind", where)
    target: Entry = {"name": name.removeprefix(_SERVICE_PREFIX)}
    if name.startswith(_SERVICE_PREFIX) or call_kind == "Service":
        target["kind"] = "Service"
    elif call_kind:
        target["kind"] = call_kind
    resources = _items(call.get("HTTPResources"), Mapping, f"{where}.HTTPResources")
    _check_rules(resources, "path", "methods", f"{where}.HTTPResources")
    if kind == "http" and resources:
        target["http"] = [dict(resource) for resource in resources]
    return {"kubernetes": target}


def _check_fields(key: str, body: Mapping[str, Any], where: str) -> None:
    """The fields coverage reads have the types Otterize's schema gives them."""
    if key in ("kubernetes", "service"):
        _optional_text(body, "kind", where)
        _check_rules(_items(body.get("http"), Mapping, f"{where}.http"), "path", "methods",
                     f"{where}.http")
    elif key == "kafka":
        _check_rules(_items(body.get("topics"), Mapping, f"{where}.topics"), "name",
                     "operations", f"{where}.topics")
    else:
        _items(body.get("domains"), str, f"{where}.domains")
        _items(body.get("ips"), str, f"{where}.ips")
        _items(body.get("ports"), int, f"{where}.ports")


def _check_rules(rules: list[Any], key: str, actions: str, where: str) -> None:
    """http rules (``path`` + ``methods``) and kafka topics (``name`` + ``operations``)."""
    for index, rule in enumerate(rules):
        if not isinstance(rule.get(key), str):
            raise NotIntents(f"{where}[{index}].{key} is not text")
        _items(rule.get(actions), str, f"{where}[{index}].{actions}")


def _items(raw: object, kind: type, where: str) -> list[Any]:
    """`raw` as a list of `kind`; absent (or null) is the empty list."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, kind) for item in raw):
        raise NotIntents(f"{where} is not a list of {_NOUNS.get(kind, kind.__name__)}")
    return raw


def _optional_text(body: Mapping[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise NotIntents(f"{where}.{key} is not text")
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
