"""The flow fingerprint: an event minus its timing and counting.

One fingerprint is one anomaly is one chat message, however many events repeat the flow.
Labels, severity and reason are deliberately left out: they describe the sighting, not the
connection, so a sensor that relabels a pod must not open a second conversation.
"""

from __future__ import annotations

import hashlib

from chatbot.events.model import FlowEvent, InternetTarget, KafkaTarget, KubernetesTarget, Target


def fingerprint(event: FlowEvent) -> str:
    client = event.client
    parts = ("v1", event.cluster, client.namespace, client.name, client.kind,
             *target_identity(event.target))
    # NUL cannot occur in any validated field, so joining on it is unambiguous.
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def target_identity(target: Target) -> tuple[str, ...]:
    match target:
        case KubernetesTarget():
            http = target.http
            return (target.type, target.namespace, target.name, target.kind or "",
                    str(target.port or ""), target.protocol or "",
                    http.path if http else "", http.method if http else "")
        case KafkaTarget():
            return (target.type, target.namespace, target.name, target.topic, target.operation)
        case InternetTarget():
            return (target.type, target.domain or "", target.ip or "", str(target.port or ""),
                    target.protocol or "")
