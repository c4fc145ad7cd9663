"""Why an anomaly should escalate now — pure rules over its stored facts.

Triggers: a critical severity, a compliance namespace or label, a blocked flow retried
within the window, or a pending decision older than ``pending_timeout``. A click on
Escalate is the fifth trigger and goes through the decision code instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chatbot.config.rules import Escalation, matches
from chatbot.lifecycle import State


class Trigger(StrEnum):
    CLICK = "click"
    CRITICAL = "critical"
    COMPLIANCE = "compliance"
    RETRIED_AFTER_BLOCK = "retried-after-block"
    PENDING_TIMEOUT = "pending-timeout"


@dataclass(frozen=True, slots=True)
class Facts:
    state: State
    severity: str
    client_namespace: str
    target_namespace: str | None
    client_labels: Mapping[str, str]
    detected_at: datetime | None
    escalated_at: datetime | None
    retried_after_block_at: datetime | None


@dataclass(frozen=True, slots=True)
class Due:
    trigger: Trigger
    reason: str
    raise_to_critical: bool = False


def compliance_reason(facts: Facts, rules: Escalation) -> str | None:
    for namespace in (facts.client_namespace, facts.target_namespace):
        if namespace and matches(rules.compliance_namespaces, namespace):
            return f"namespace {namespace} is under compliance rules"
    for key, values in rules.compliance_labels:
        value = facts.client_labels.get(key)
        if value is not None and value in values:
            return f"the client is labelled {key}={value}"
    return None


def due(facts: Facts, rules: Escalation, now: datetime) -> Due | None:
    if facts.state is State.PENDING:
        if facts.severity == "critical":
            return Due(Trigger.CRITICAL, "severity is critical")
        compliance = compliance_reason(facts, rules)
        if compliance:
            return Due(Trigger.COMPLIANCE, compliance, raise_to_critical=True)
        timeout = timedelta(seconds=rules.pending_timeout_seconds)
        if facts.detected_at is not None and now - facts.detected_at >= timeout:
            return Due(Trigger.PENDING_TIMEOUT,
                       f"no decision within {_duration(rules.pending_timeout_seconds)}")
    if facts.state is State.BLOCKED and facts.retried_after_block_at is not None:
        window = timedelta(seconds=rules.retried_after_block_window_seconds)
        if facts.escalated_at is None or now - facts.escalated_at >= window:
            return Due(Trigger.RETRIED_AFTER_BLOCK, "the flow was seen again after it was blocked")
    return None


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
