"""The flow fingerprint: an event minus its timing and counting.

One fingerprint is one anomaly is one chat message, however many events repeat the flow.
Labels, severity and reason are deliberately left out: they describe the sighting, not the
connection, so a sensor that relabels a pod must not open a second conversation.

:func:`fingerprint` is pure; :class:`Fingerprints` is the same function with a bounded
memory, for the pipeline to own (the composition root builds one per consumer).
"""

from __future__ import annotations

import hashlib

from chatbot.events.model import (
    FlowEvent,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Target,
    Workload,
)


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


class Fingerprints:
    """:func:`fingerprint`, remembered per (cluster, client, target) *object*: the fast
    decoder hands out the same client and target objects for a repeated flow, so most
    events cost one dict lookup instead of a hash. Each entry keeps its objects alive, so
    their ids cannot be reused while remembered; the memory starts over when full."""

    def __init__(self, *, remember: int = 10_000) -> None:
        self._remember = remember
        self._known: dict[tuple[str, int, int], tuple[Workload, Target, str]] = {}

    def __call__(self, event: FlowEvent) -> str:
        client, target = event.client, event.target
        key = (event.cluster, id(client), id(target))
        known = self._known.get(key)
        if known is not None and known[0] is client and known[1] is target:
            return known[2]
        digest = fingerprint(event)
        if len(self._known) >= self._remember:
            self._known.clear()
        self._known[key] = (client, target, digest)
        return digest
