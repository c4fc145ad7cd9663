"""The schema-v1 event as it travels: msgspec Structs with the shape rules (field types,
lengths, ranges, patterns), the source of both the fast decoder's checks and the published
JSON Schema (chatbot/events/schema.py). Rules a JSON Schema cannot state — a real calendar
date, a real IP address — are applied by the parsers on top (chatbot/events/parse.py).

Every pattern is one of chatbot/events/names.py's expressions, anchored, so the parsers and
the schema cannot drift apart. ``null`` is accepted wherever the parser reads it as absent.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Raw, Struct

from chatbot.events import names
from chatbot.events.model import Reason, Severity

MAX_EVENT_BYTES = 64 * 1024
MAX_LABELS = 64
MAX_COUNT = 1_000_000_000
MAX_TIMESTAMP = 40


def _anchored(pattern: str) -> str:
    return f"^{pattern}$"


def _one_of(values: frozenset[str]) -> dict[str, object]:
    return {"enum": sorted(values)}


EventId = Annotated[str, Meta(pattern=_anchored(names.EVENT_ID.pattern),
                              description="Producer-unique; a redelivery is a no-op.")]
Timestamp = Annotated[str, Meta(max_length=MAX_TIMESTAMP,
                                pattern=_anchored(names.TIMESTAMP.pattern),
                                extra_json_schema={"format": "date-time"},
                                description="RFC 3339 with a zone offset.")]
ObjectName = Annotated[str, Meta(max_length=names.MAX_NAME,
                                 pattern=_anchored(names.DNS_SUBDOMAIN.pattern))]
Namespace = Annotated[str, Meta(pattern=_anchored(names.DNS_LABEL.pattern))]
Kind = Annotated[str, Meta(pattern=_anchored(names.KIND.pattern))]
LabelKey = Annotated[str, Meta(pattern=_anchored(names.LABEL_KEY.pattern))]
LabelValue = Annotated[str, Meta(pattern=_anchored(names.LABEL_VALUE.pattern))]
Topic = Annotated[str, Meta(pattern=_anchored(names.KAFKA_TOPIC.pattern))]
Operation = Annotated[str, Meta(extra_json_schema=_one_of(names.KAFKA_OPERATIONS))]
Domain = Annotated[str, Meta(max_length=names.MAX_NAME,
                             pattern=_anchored(names.DOMAIN.pattern))]
Ip = Annotated[str, Meta(pattern=_anchored(names.IP_TEXT.pattern),
                         description="An IPv4/IPv6 address or CIDR block.")]
Port = Annotated[int, Meta(ge=1, le=65535)]
Protocol = Annotated[str, Meta(extra_json_schema=_one_of(names.PROTOCOLS))]
HttpPath = Annotated[str, Meta(pattern=_anchored(names.HTTP_PATH.pattern))]
HttpMethod = Annotated[str, Meta(extra_json_schema=_one_of(names.HTTP_METHODS))]
Count = Annotated[int, Meta(ge=1, le=MAX_COUNT)]
Labels = Annotated[dict[LabelKey, LabelValue], Meta(max_length=MAX_LABELS)]


class ClientDocument(Struct, forbid_unknown_fields=True, frozen=True):
    name: ObjectName
    namespace: Namespace
    kind: Kind
    labels: Labels = msgspec.field(default_factory=dict)
    service_account: ObjectName | None = None


class HttpDocument(Struct, forbid_unknown_fields=True, frozen=True):
    path: HttpPath
    method: HttpMethod


class KubernetesTargetDocument(Struct, tag_field="type", tag="kubernetes",
                               forbid_unknown_fields=True, frozen=True):
    name: ObjectName
    namespace: Namespace
    kind: Kind | None = None
    port: Port | None = None
    protocol: Protocol | None = None
    http: HttpDocument | None = None


class KafkaTargetDocument(Struct, tag_field="type", tag="kafka", forbid_unknown_fields=True,
                          frozen=True):
    name: ObjectName
    namespace: Namespace
    topic: Topic
    operation: Operation


class InternetTargetDocument(Struct, tag_field="type", tag="internet",
                             forbid_unknown_fields=True, frozen=True):
    """``domain`` and/or ``ip``: the decoder checks that one is there, the JSON Schema
    states it with an ``anyOf`` (chatbot/events/schema.py)."""

    domain: Domain | None = None
    ip: Ip | None = None
    port: Port | None = None
    protocol: Protocol | None = None


TargetDocument = KubernetesTargetDocument | KafkaTargetDocument | InternetTargetDocument


class EventDocument(Struct, forbid_unknown_fields=True, frozen=True):
    """The whole event, for the JSON Schema."""

    schema_version: Literal[1]
    event_id: EventId
    observed_at: Timestamp
    cluster: ObjectName
    client: ClientDocument
    target: TargetDocument
    reason: Reason | None = Reason.NO_INTENT
    severity: Severity | None = Severity.MEDIUM
    count: Count = 1


class Skeleton(Struct, forbid_unknown_fields=True, frozen=True):
    """The whole event for the fast decoder: client and target stay the exact bytes they
    arrived as (a flood repeats them byte for byte, so they are validated once and looked
    up after that); strings that repeat are checked by the decoder's remembering checks."""

    schema_version: Literal[1]
    event_id: str
    observed_at: str
    cluster: str
    client: Raw
    target: Raw
    reason: Reason | None = Reason.NO_INTENT
    severity: Severity | None = Severity.MEDIUM
    count: Count = 1
