"""The anomaly as people see it: one read-only view feeding both the Slack message and the
local review page, so the two never disagree about what a flow is or what Approve does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatbot.events.codec import target_from_dict
from chatbot.events.model import (
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    Workload,
)
from chatbot.lifecycle import State
from chatbot.store.models import Anomaly


@dataclass(frozen=True, slots=True)
class Card:
    anomaly_id: str
    cluster: str
    client: Workload
    target: Target
    reason: Reason
    severity: Severity
    state: State
    version: int
    event_count: int
    first_seen: datetime
    last_seen: datetime
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    apply_error: str | None = None
    apply_attempts: int = 0
    applied_object: str | None = None
    retried_after_block_at: datetime | None = None
    escalated_at: datetime | None = None
    escalation_reason: str | None = None
    escalation_trigger: str | None = None
    approvals: tuple[str, ...] = ()
    approvals_required: int = 1

    @property
    def short_id(self) -> str:
        return self.anomaly_id[:8]


def card_from_row(row: Anomaly, *, approvals_required: int = 1) -> Card:
    return Card(
        anomaly_id=row.id, cluster=row.cluster,
        client=Workload(name=row.client_name, namespace=row.client_namespace,
                        kind=row.client_kind, labels=dict(row.client_labels)),
        target=target_from_dict(row.target), reason=Reason(row.reason),
        severity=Severity(row.severity), state=State(row.state), version=row.version,
        event_count=row.event_count, first_seen=row.first_seen, last_seen=row.last_seen,
        decision=row.decision, decided_by=row.decided_by, decided_at=row.decided_at,
        apply_error=row.apply_error,
        apply_attempts=row.apply_attempts, applied_object=row.applied_object,
        retried_after_block_at=row.retried_after_block_at, escalated_at=row.escalated_at,
        escalation_reason=row.escalation_reason, escalation_trigger=row.escalation_trigger,
        approvals=tuple(row.approvals or ()), approvals_required=approvals_required,
    )


def target_label(target: Target) -> str:
    """``payments/ledger`` or ``kafka/broker topic orders (produce)`` or ``api.stripe.com``."""
    match target:
        case KubernetesTarget():
            return f"{target.namespace}/{target.name}"
        case KafkaTarget():
            return f"{target.namespace}/{target.name} topic {target.topic} ({target.operation})"
        case InternetTarget():
            return target.domain or target.ip or "internet"


def target_details(target: Target) -> dict[str, str]:
    """The facts worth a line each, in display order (ports stay visible here)."""
    details: dict[str, Any] = {}
    match target:
        case KubernetesTarget():
            details["Target"] = f"{target.kind or 'workload'} {target.namespace}/{target.name}"
            details["Port"] = _port(target.port, target.protocol)
            if target.http:
                details["HTTP"] = f"{target.http.method} {target.http.path}"
        case KafkaTarget():
            details["Kafka server"] = f"{target.namespace}/{target.name}"
            details["Topic"] = f"{target.topic} ({target.operation})"
        case InternetTarget():
            details["Internet"] = " ".join(x for x in (target.domain, target.ip) if x)
            details["Port"] = _port(target.port, target.protocol)
    return {key: value for key, value in details.items() if value}


def _port(port: int | None, protocol: str | None) -> str:
    if port is None:
        return protocol or ""
    return f"{port}/{protocol or 'TCP'}"
