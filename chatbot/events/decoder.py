"""The fast parser on the consume path: msgspec decodes the skeleton of an event in C, the
client and target sub-documents are validated once per exact byte string and looked up
after that, and anything off that path goes to :func:`parse_event` — so every verdict,
value and dead-letter reason is the reference parser's (tests/events/test_decoder.py runs
both over the parser's cases and a fuzzed corpus).

One :class:`EventDecoder` per consumer, built by the composition root; it owns its caches.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import msgspec

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
    Workload,
)
from chatbot.events.names import NameChecks
from chatbot.events.parse import parse_event
from chatbot.events.wire import (
    MAX_EVENT_BYTES,
    MAX_TIMESTAMP,
    ClientDocument,
    InternetTargetDocument,
    KafkaTargetDocument,
    KubernetesTargetDocument,
    Skeleton,
    TargetDocument,
)

_K = TypeVar("_K", bytes, str)
_V = TypeVar("_V", Workload, KubernetesTarget | KafkaTarget | InternetTarget, None)

REMEMBERED = 10_000  # distinct clients and targets (and names per rule) kept per decoder


class EventDecoder:
    """``decoder(raw) -> FlowEvent``, raising BadEvent exactly as :func:`parse_event`."""

    def __init__(self, *, remember: int = REMEMBERED) -> None:
        self._remember = remember
        self._checks = NameChecks(remember=remember)
        self._skeletons = msgspec.json.Decoder(Skeleton)
        self._client_documents = msgspec.json.Decoder(ClientDocument)
        self._target_documents = msgspec.json.Decoder(TargetDocument)
        self._clients: dict[bytes, Workload] = {}
        self._targets: dict[bytes, Target] = {}
        self._clusters: dict[str, None] = {}

    def __call__(self, raw: bytes) -> FlowEvent:
        event = self._fast(raw) if len(raw) <= MAX_EVENT_BYTES else None
        if event is None:
            return parse_event(raw, checks=self._checks)
        return event

    def _fast(self, raw: bytes) -> FlowEvent | None:
        """The event if every check passes on the fast path, else None (the reference parser
        then decides, and names the problem)."""
        try:
            doc = self._skeletons.decode(raw)
        except ValueError:  # msgspec's errors, and a bare UnicodeDecodeError (msgspec#714)
            return None
        client_bytes = bytes(doc.client)
        client = self._clients.get(client_bytes)
        if client is None:
            client = self._new_client(client_bytes)
            if client is None:
                return None
        target_bytes = bytes(doc.target)
        target = self._targets.get(target_bytes)
        if target is None:
            target = self._new_target(target_bytes)
            if target is None:
                return None
        cluster = doc.cluster
        if cluster not in self._clusters:
            if not names.is_object_name(cluster):
                return None
            _remember(self._clusters, cluster, None, self._remember)
        event_id, observed = doc.event_id, doc.observed_at
        if not names.is_event_id(event_id) or len(observed) > MAX_TIMESTAMP:
            return None
        try:
            observed_at = datetime.fromisoformat(observed)
        except ValueError:
            return None
        if not rfc3339_layout(observed):
            return None
        return FlowEvent(event_id, observed_at, cluster, client, target,
                         doc.reason or Reason.NO_INTENT, doc.severity or Severity.MEDIUM,
                         doc.count)

    def _new_client(self, raw: bytes) -> Workload | None:
        try:
            doc = self._client_documents.decode(raw)
        except ValueError:
            return None
        checks = self._checks
        if not (checks.object_name(doc.name) and checks.namespace(doc.namespace)
                and checks.kind(doc.kind)
                and (doc.service_account is None or checks.object_name(doc.service_account))
                and all(checks.label_key(key) and checks.label_value(value)
                        for key, value in doc.labels.items())):
            return None
        workload = Workload(name=doc.name, namespace=doc.namespace, kind=doc.kind,
                            labels=doc.labels, service_account=doc.service_account)
        _remember(self._clients, raw, workload, self._remember)
        return workload

    def _new_target(self, raw: bytes) -> Target | None:
        try:
            doc = self._target_documents.decode(raw)
        except ValueError:
            return None
        target = self._target(doc)
        if target is not None:
            _remember(self._targets, raw, target, self._remember)
        return target

    def _target(self, doc: TargetDocument) -> Target | None:
        checks = self._checks
        match doc:
            case KubernetesTargetDocument():
                http = doc.http
                if not (checks.object_name(doc.name) and checks.namespace(doc.namespace)
                        and (doc.kind is None or checks.kind(doc.kind))
                        and _protocol_ok(doc.protocol)
                        and (http is None or (checks.http_path(http.path)
                                              and http.method in names.HTTP_METHODS))):
                    return None
                return KubernetesTarget(
                    name=doc.name, namespace=doc.namespace, kind=doc.kind, port=doc.port,
                    protocol=doc.protocol,
                    http=None if http is None else HttpCall(path=http.path, method=http.method))
            case KafkaTargetDocument():
                if not (checks.object_name(doc.name) and checks.namespace(doc.namespace)
                        and checks.topic(doc.topic)
                        and doc.operation in names.KAFKA_OPERATIONS):
                    return None
                return KafkaTarget(name=doc.name, namespace=doc.namespace, topic=doc.topic,
                                   operation=doc.operation)
            case InternetTargetDocument():
                domain, ip = doc.domain, doc.ip
                if ((domain is None and ip is None)
                        or (domain is not None and not checks.domain(domain))
                        or (ip is not None and not checks.ip(ip))
                        or not _protocol_ok(doc.protocol)):
                    return None
                return InternetTarget(domain=domain and domain.lower(), ip=ip, port=doc.port,
                                      protocol=doc.protocol)


def rfc3339_layout(text: str) -> bool:
    """For a ``text`` that ``datetime.fromisoformat`` accepted: is it also names.TIMESTAMP?
    fromisoformat has checked the digits and the calendar; what it also reads and RFC 3339
    does not (basic and week forms, a comma, ``+HHMM`` or ``+HH`` offsets, no offset) shows
    in the separators. Cheaper than the expression, and equal to it on that domain (see
    tests/events/test_decoder.py)."""
    if len(text) < 20 or text[4:17:3] != "--T::":  # the separators at 4, 7, 10, 13 and 16
        return False
    if text[-1] == "Z":
        fraction = text[19:-1]
    elif text[-6] in "+-" and text[-3] == ":" and text[-2] in "012345":
        fraction = text[19:-6]
    else:
        return False
    return not fraction or (fraction[0] == "." and fraction[1:].isdigit()
                            and fraction.isascii())


def _protocol_ok(protocol: str | None) -> bool:
    return protocol is None or protocol in names.PROTOCOLS


def _remember(known: dict[_K, _V], raw: _K, value: _V, limit: int) -> None:
    if len(known) >= limit:
        known.clear()
    known[raw] = value
