"""The ClientIntents document rules, pure: an approved flow becomes one ``spec.targets[]``
entry, and that entry is merged into the workload's object without dropping, reordering or
narrowing anything someone else wrote. What a merge really added is recorded per approval
(provenance.py), so that removal.py can later take exactly that away again.

The sinks (kubernetes.py, directory.py) read the current object, call :func:`merge` and write
``Merge.document`` back only when ``Merge.changed``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from chatbot.events.model import InternetTarget, KafkaTarget, KubernetesTarget, Target, Workload
from chatbot.intents.provenance import MANAGER as MANAGER  # where callers know them
from chatbot.intents.provenance import ApprovalNote as ApprovalNote
from chatbot.intents.provenance import Grant, utc_stamp, write_grant

GROUP = "k8s.otterize.com"
VERSION = "v2beta1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ClientIntents"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
APPROVED_BY = f"{MANAGER}/approved-by"
APPROVED_AT = f"{MANAGER}/approved-at"
ANOMALY_IDS = f"{MANAGER}/anomaly-ids"
MAX_ANOMALY_IDS_CHARS = 1024

Document = dict[str, Any]
"""A whole ClientIntents object, as the apiserver or a YAML file holds it."""
Entry = dict[str, Any]
"""One ``spec.targets[]`` item: a single key (kubernetes, service, kafka, internet)."""

@dataclass(frozen=True, slots=True)
class Merge:
    document: Document
    changed: bool
    """False when the object already allowed the flow: nothing to write."""


@dataclass(frozen=True, slots=True)
class Delta:
    """What one merge put into ``spec.targets``, in the targets' own shape."""

    added: Entry
    replaced: Entry | None = None
    """An HTTP restriction the addition lifted, to be put back when it is revoked."""


def object_name(client: Workload) -> str:
    """The name the bot gives a ClientIntents it creates (workload names are DNS-1123)."""
    return client.name


def target_entry(client: Workload, target: Target) -> Entry:
    match target:
        case KubernetesTarget():
            body: dict[str, Any] = {"name": _qualified(target.name, target.namespace, client)}
            if target.kind is not None and target.kind.lower() == "service":
                key = "service"
            else:
                key = "kubernetes"
                if target.kind is not None:
                    body["kind"] = target.kind
            if target.http is not None:
                body["http"] = [{"path": target.http.path, "methods": [target.http.method]}]
            return {key: body}
        case KafkaTarget():
            return {"kafka": {
                "name": _qualified(target.name, target.namespace, client),
                "topics": [{"name": target.topic, "operations": [target.operation]}],
            }}
        case InternetTarget():
            internet: dict[str, Any] = {}
            if target.domain is not None:
                internet["domains"] = [target.domain]
            if target.ip is not None:
                internet["ips"] = [target.ip]
            if target.port is not None:
                internet["ports"] = [target.port]
            return {"internet": internet}


def targets_yaml(client: Workload, target: Target) -> str:
    """The ``targets:`` snippet an approval adds, as the card shows it."""
    return yaml.safe_dump({"targets": [target_entry(client, target)]}, sort_keys=False).rstrip()


def describes(document: Document, client: Workload) -> bool:
    """Is `document` the ClientIntents of `client` (whatever name it was given)?"""
    workload = (document.get("spec") or {}).get("workload") or {}
    if workload.get("name") != client.name:
        return False
    kind = workload.get("kind")
    return not isinstance(kind, str) or kind.lower() == client.kind.lower()


def merge(
    existing: Document | None, *, client: Workload, entry: Entry, note: ApprovalNote
) -> Merge:
    if existing is None:
        return Merge(_new_document(client, entry, note), changed=True)
    document = copy.deepcopy(existing)
    spec = document.get("spec")
    if not isinstance(spec, dict):
        spec = document["spec"] = {"workload": {"name": client.name, "kind": client.kind}}
    targets = spec.get("targets")
    if not isinstance(targets, list):
        targets = spec["targets"] = []
    delta = add_entry(targets, copy.deepcopy(entry), client.namespace)
    if delta is None:
        return Merge(document, changed=False)
    record_approval(document, note)
    write_grant(document, Grant(note=note, target=copy.deepcopy(entry), added=(delta.added,),
                                replaced=(delta.replaced,) if delta.replaced else ()))
    return Merge(document, changed=True)


def _new_document(client: Workload, entry: Entry, note: ApprovalNote) -> Document:
    document: Document = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": object_name(client),
            "namespace": client.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGER},
        },
        "spec": {
            "workload": {"name": client.name, "kind": client.kind},
            "targets": [copy.deepcopy(entry)],
        },
    }
    record_approval(document, note)
    write_grant(document, Grant(note=note, target=copy.deepcopy(entry),
                                added=(copy.deepcopy(entry),)))
    return document


def record_approval(document: Document, note: ApprovalNote) -> None:
    """The object-wide "last approval" annotations (the per-target record is the grant)."""
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        metadata = document["metadata"] = {}
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = {}
    annotations[APPROVED_BY] = note.approved_by
    annotations[APPROVED_AT] = utc_stamp(note.approved_at)
    annotations[ANOMALY_IDS] = _anomaly_ids(str(annotations.get(ANOMALY_IDS, "")), note.anomaly_id)


def _anomaly_ids(recorded: str, anomaly_id: str) -> str:
    """Append, keeping only the newest ids that fit in the cap (annotations are size-limited)."""
    ids = [item for item in recorded.split(",") if item and item != anomaly_id]
    ids.append(anomaly_id)
    while len(ids) > 1 and len(",".join(ids)) > MAX_ANOMALY_IDS_CHARS:
        ids.pop(0)
    return ",".join(ids)


def _qualified(name: str, namespace: str, client: Workload) -> str:
    return name if namespace == client.namespace else f"{name}.{namespace}"


def add_entry(targets: list[Any], entry: Entry, namespace: str) -> Delta | None:
    """Add `entry` to `targets` in place; what was added, or None if nothing changed."""
    if entry in targets:
        return None
    ((key, body),) = entry.items()
    if key == "internet":
        return _add_internet(targets, body)
    wanted = target_identity(entry, namespace)
    for item in targets:
        if wanted is not None and _same(target_identity(item, namespace), wanted):
            ((have_key, existing),) = item.items()
            base = {k: existing[k] for k in ("name", "kind") if k in existing}
            if key == "kafka":
                topics = _add_topics(existing, body)
                return Delta({have_key: {**base, "topics": topics}}) if topics else None
            return _add_calls(have_key, base, existing, body)
    targets.append(entry)
    return Delta(copy.deepcopy(entry))


def target_identity(item: object, namespace: str) -> tuple[str, str, str | None] | None:
    """(target type, name without the client's namespace suffix, lowercase kind or None)."""
    if not isinstance(item, dict) or len(item) != 1:
        return None
    ((key, body),) = item.items()
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return None
    name = body["name"].removesuffix(f".{namespace}")
    kind = body.get("kind")
    kind = kind.lower() if isinstance(kind, str) else None
    if key == "service" or (key == "kubernetes" and kind == "service"):
        return "service", name, None
    if key in ("kubernetes", "kafka"):
        return key, name, kind
    return None


def _same(
    have: tuple[str, str, str | None] | None, wanted: tuple[str, str, str | None]
) -> bool:
    if have is None or have[:2] != wanted[:2]:
        return False
    return have[2] is None or wanted[2] is None or have[2] == wanted[2]


# Missing or empty lists (http, methods, operations) are read as "no restriction": adding to
# them would narrow access someone already has, so they are left alone.


def _add_calls(key: str, base: dict[str, Any], existing: dict[str, Any],
               body: dict[str, Any]) -> Delta | None:
    calls = existing.get("http")
    if not calls:
        return None
    if not body.get("http"):
        del existing["http"]
        return Delta({key: dict(base)}, replaced={key: {**base, "http": calls}})
    added: list[dict[str, Any]] = []
    for call in body["http"]:
        for item in calls:
            if isinstance(item, dict) and item.get("path") == call["path"]:
                methods = _union(item, "methods", call["methods"])
                if methods:
                    added.append({"path": call["path"], "methods": methods})
                break
        else:
            calls.append(call)
            added.append(copy.deepcopy(call))
    return Delta({key: {**base, "http": added}}) if added else None


def _add_topics(existing: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
    topics = existing.get("topics")
    if not topics:
        return []
    added: list[dict[str, Any]] = []
    for topic in body["topics"]:
        for item in topics:
            if isinstance(item, dict) and item.get("name") == topic["name"]:
                if "all" not in (item.get("operations") or ()):
                    operations = _union(item, "operations", topic["operations"])
                    if operations:
                        added.append({"name": topic["name"], "operations": operations})
                break
        else:
            topics.append(topic)
            added.append(copy.deepcopy(topic))
    return added


def _union(item: dict[str, Any], key: str, values: list[Any]) -> list[Any]:
    """Add the missing `values` to ``item[key]``; those added (none when the list is empty:
    an empty list already means every value)."""
    have = item.get(key)
    if not have:
        return []
    missing = [value for value in values if value not in have]
    if missing:
        item[key] = [*have, *missing]
    return missing


def _add_internet(targets: list[Any], body: dict[str, Any]) -> Delta | None:
    entries = [
        item["internet"] for item in targets
        if isinstance(item, dict) and isinstance(item.get("internet"), dict)
    ]
    if any(_covers(existing, body) for existing in entries):
        return None
    ports = sorted(body.get("ports") or ())
    for existing in entries:
        if sorted(existing.get("ports") or ()) == ports:
            added: dict[str, Any] = {}
            for key in ("domains", "ips"):
                if body.get(key):
                    have = existing.get(key) or []
                    new = [value for value in body[key] if value not in have]
                    existing[key] = [*have, *new]
                    if new:
                        added[key] = new
            if ports:
                added["ports"] = list(existing.get("ports") or ())
            return Delta({"internet": added})
    targets.append({"internet": body})
    return Delta({"internet": copy.deepcopy(body)})


def _covers(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    ports = existing.get("ports") or ()
    if ports and not (body.get("ports") and set(body["ports"]) <= set(ports)):
        return False
    return all(
        value in (existing.get(key) or ())
        for key in ("domains", "ips")
        for value in body.get(key, ())
    )
