"""The anomaly as people see it: one read-only view model feeding both the Slack message and
the local review page, so the two never disagree about what a flow is, which buttons it
offers or what Approve does. Pure: the store builds cards from rows, nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatbot.events.model import (
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    Workload,
)
from chatbot.lifecycle import OPEN_STATES, Action, State, allowed_actions


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
    detected_at: datetime | None = None
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    apply_error: str | None = None
    apply_attempts: int = 0
    applied_object: str | None = None
    retried_after_block_at: datetime | None = None
    escalated_at: datetime | None = None
    escalation_reason: str | None = None
    """Why the service escalated it, in words (may quote event data); None for a click."""
    escalation_trigger: str | None = None
    escalated_by: str | None = None
    """The Slack user who clicked Escalate (the trigger ``click``)."""
    approvals: tuple[str, ...] = ()
    approvals_required: int = 1
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    proposal_url: str | None = None
    """Git sink: the pull request carrying the approval (``proposed``, then ``applied``)."""
    proposal_note: str | None = None
    """Git sink: why the flow is back to a decision (its pull request was closed unmerged)."""
    slack_channel_id: str | None = None
    slack_ts: str | None = None
    """Where the chat message is, so a pull request can link back to it."""

    @property
    def short_id(self) -> str:
        return self.anomaly_id[:8]

    @property
    def actions(self) -> list[Action]:
        """What a person may still do with this flow, in button order."""
        return allowed_actions(self.state)


@dataclass(frozen=True, slots=True)
class PullRequestLook:
    """The git sink's pull request as the card shows it: its link and its state in words."""

    url: str
    state: str
    """``open``, ``merged`` or ``closed``."""
    text: str


def pull_request_look(card: Card) -> PullRequestLook | None:
    """What the card says about the flow's pull request, if it has one."""
    if card.proposal_url is None:
        return None
    if card.state is State.PROPOSED:
        return PullRequestLook(card.proposal_url, "open",
                               "Pull request open, waiting for review and merge")
    if card.state is State.APPLIED:
        return PullRequestLook(card.proposal_url, "merged", "Pull request merged: applied")
    if card.state in OPEN_STATES and card.proposal_note:
        return PullRequestLook(card.proposal_url, "closed", card.proposal_note)
    return None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The "are you sure?" an action asks before it is sent."""

    title: str
    text: str
    confirm: str
    deny: str = "Cancel"


@dataclass(frozen=True, slots=True)
class ActionLook:
    """How a decision is offered: its label, its emphasis and any confirmation."""

    label: str
    style: str | None = None  # "primary" or "danger"; None is the plain look
    confirm: Confirmation | None = None


ACTION_LOOKS: dict[Action, ActionLook] = {
    Action.APPROVE: ActionLook("Approve", "primary"),
    Action.BLOCK: ActionLook("Block", "danger", Confirmation(
        title="Block this flow?",
        text="Nothing is written to the cluster; the flow is flagged if it is seen again.",
        confirm="Block")),
    Action.ESCALATE: ActionLook("Escalate"),
}


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
