"""A FlowEvent as a schema-v1 document (the inverse of parse.py), for the service's own
producers: ``chatbot import-intents`` sends network-mapper discoveries down the same Kafka
path as any sensor's events."""

from __future__ import annotations

from typing import Any

import orjson

from chatbot.events.codec import target_to_dict
from chatbot.events.model import FlowEvent


def event_document(event: FlowEvent) -> dict[str, Any]:
    client: dict[str, Any] = {"name": event.client.name, "namespace": event.client.namespace,
                              "kind": event.client.kind}
    if event.client.labels:
        client["labels"] = dict(event.client.labels)
    return {
        "schema_version": 1,
        "event_id": event.event_id,
        "observed_at": event.observed_at.isoformat(),
        "cluster": event.cluster,
        "client": client,
        "target": target_to_dict(event.target),
        "reason": event.reason.value,
        "severity": event.severity.value,
        "count": event.count,
    }


def event_json(event: FlowEvent) -> bytes:
    return orjson.dumps(event_document(event))
