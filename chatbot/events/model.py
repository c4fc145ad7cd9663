"""The validated shape of a schema-v1 flow-anomaly event (see shared/DESIGN.md).

Field names follow Otterize's vocabulary: a *client* workload calls a *target*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import msgspec


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Reason(StrEnum):
    NO_INTENT = "no-intent"
    DENIED_BY_POLICY = "denied-by-policy"
    WOULD_BE_DENIED = "would-be-denied"
    """Cilium policy audit mode: the flow passed, but enforcing the policy would drop it."""
    NEW_CONNECTION = "new-connection"


class TargetType(StrEnum):
    KUBERNETES = "kubernetes"
    KAFKA = "kafka"
    INTERNET = "internet"


@dataclass(frozen=True, slots=True)
class Workload:
    """The client side of a flow."""

    name: str
    namespace: str
    kind: str
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    service_account: str | None = field(default=None, compare=False, hash=False)
    """The pods' ServiceAccount, when the sensor reports it (context, not identity)."""


@dataclass(frozen=True, slots=True)
class HttpCall:
    path: str
    method: str


@dataclass(frozen=True, slots=True)
class KubernetesTarget:
    name: str
    namespace: str
    kind: str | None
    port: int | None
    protocol: str | None
    http: HttpCall | None = None
    type: TargetType = TargetType.KUBERNETES


@dataclass(frozen=True, slots=True)
class KafkaTarget:
    name: str
    namespace: str
    topic: str
    operation: str
    type: TargetType = TargetType.KAFKA


@dataclass(frozen=True, slots=True)
class InternetTarget:
    domain: str | None
    ip: str | None
    port: int | None
    protocol: str | None
    type: TargetType = TargetType.INTERNET


Target = KubernetesTarget | KafkaTarget | InternetTarget


class FlowEvent(msgspec.Struct, frozen=True, gc=False):
    """One validated event; many events may describe the same flow (see fingerprint).

    A msgspec Struct rather than a dataclass: one is built per consumed record, and a frozen
    dataclass's ``__init__`` cost more than decoding the record. ``gc=False``: it holds no
    cycles, so the collector need not track the thousands alive in every batch."""

    event_id: str
    observed_at: datetime
    cluster: str
    client: Workload
    target: Target
    reason: Reason = Reason.NO_INTENT
    severity: Severity = Severity.MEDIUM
    count: int = 1
