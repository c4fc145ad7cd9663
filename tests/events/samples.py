"""Schema-v1 event documents for tests: one valid event per target type, and small edits
(set or drop a dotted field) to turn one into exactly the bad event a test needs."""

from __future__ import annotations

import copy
from typing import Any

import orjson

Doc = dict[str, Any]
_DROP = object()


def kubernetes_event(event_id: str = "evt-1", **fields: Any) -> Doc:
    return {
        "schema_version": 1,
        "event_id": event_id,
        "observed_at": "2025-03-01T12:00:00Z",
        "cluster": "prod-eu",
        "client": {"name": "checkout", "namespace": "shop", "kind": "Deployment",
                   "labels": {"app": "checkout"}},
        "target": {"type": "kubernetes", "name": "payments", "namespace": "billing",
                   "kind": "Service", "port": 8443, "protocol": "TCP",
                   "http": {"path": "/v1/charge", "method": "POST"}},
        "reason": "no-intent",
        "severity": "medium",
        "count": 1,
        **fields,
    }


def kafka_event(event_id: str = "evt-k", **fields: Any) -> Doc:
    doc = kubernetes_event(event_id, **fields)
    doc["target"] = {"type": "kafka", "name": "kafka", "namespace": "streaming",
                     "topic": "orders", "operation": "produce"}
    return doc


def internet_event(event_id: str = "evt-i", **fields: Any) -> Doc:
    doc = kubernetes_event(event_id, **fields)
    doc["target"] = {"type": "internet", "domain": "api.stripe.com", "ip": "203.0.113.7",
                     "port": 443, "protocol": "TCP"}
    return doc


def edited(doc: Doc, path: str, value: object = _DROP) -> Doc:
    """A copy of `doc` with the dotted field set to `value`, or removed if none is given."""
    result = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    if value is _DROP:
        del node[leaf]
    else:
        node[leaf] = value
    return result


def dropped(doc: Doc, path: str) -> Doc:
    return edited(doc, path)


def encoded(doc: Doc) -> bytes:
    return orjson.dumps(doc)
