"""The anomaly as people see it: one read-only view model feeding both the Slack message and
the local review page, so the two never disagree about what a flow is, which buttons it
offers, how careful a click must be or what Approve does. Pure: the store builds cards from
rows, nothing here does I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chatbot.config.risk import Enforcement
from chatbot.events.model import (
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    Workload,
)
from chatbot.grant import grant_lines
from chatbot.lifecycle import OPEN_STATES, Action, State, allowed_actions
from chatbot.risk import BENIGN, Risk


@dataclass(frozen=True, slots=True)
class Justification:
    """Why someone decided (or voted, or revoked) as they did, in their words."""

    by: str
    action: str
    text: str


@dataclass(frozen=True, slots=True)
class Related:
    """Another open anomaly of the same client workload: one story, not several cards."""

    anomaly_id: str
    label: str
    severity: str
    state: str


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
    risk: Risk = BENIGN
    enforcement: Enforcement = field(default_factory=Enforcement)
    justifications: tuple[Justification, ...] = ()
    revoked_by: str | None = None
    revoked_at: datetime | None = None
    revoke_result: str | None = None
    covered_by: str | None = None
    """``namespace/name`` of the ClientIntents written elsewhere that now covers the flow."""
    related: tuple[Related, ...] = ()
    current_targets: tuple[str, ...] | None = None
    """The client's intents as they stand (one line per target), when the renderer knows."""

    @property
    def short_id(self) -> str:
        return self.anomaly_id[:8]

    @property
    def grant(self) -> list[str]:
        """What Approve opens for the configured output, in sentences."""
        return grant_lines(self.client, self.target, self.enforcement)

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
    justification: bool = False
    """The action is only taken with a written justification (a modal, a text field)."""


# Block writes nothing and a blocked flow seen again escalates, so it asks nothing; Approve
# opens access, so a risky one asks (see :func:`action_look`); Revoke always asks.
ACTION_LOOKS: dict[Action, ActionLook] = {
    Action.APPROVE: ActionLook("Approve", "primary"),
    Action.BLOCK: ActionLook("Block", "danger"),
    Action.ESCALATE: ActionLook("Escalate"),
    Action.REVOKE: ActionLook("Revoke", "danger", Confirmation(
        title="Revoke this access?",
        text="Removes exactly the target this approval added; everything else in the object "
             "stays. If the flow is seen again, it asks for a new decision.",
        confirm="Revoke")),
}
ESCALATION_WHY = {
    "click": "a person asked for it",
    "critical": "the flow is critical",
    "compliance": "it touches a compliance namespace",
    "retried-after-block": "it was retried after a block",
    "pending-timeout": "nobody decided in time",
}
"""Why a flow is in the war room, by escalation trigger (the Slack war room says the same)."""
CONFIRM_TEXT_LIMIT = 300  # Slack's limit for a confirmation dialog's text
JUSTIFICATION_MAX = 1000


def clean_justification(text: str | None) -> str | None:
    """The justification as stored: trimmed, None when there is none."""
    cleaned = (text or "").strip()
    return cleaned[:JUSTIFICATION_MAX] if cleaned else None


def justification_problem(text: str | None) -> str | None:
    """Why ``text`` cannot be taken as a justification (words for the person), or None."""
    if clean_justification(text) is None:
        return "Write why this access is needed; the risk rules require it."
    if len((text or "").strip()) > JUSTIFICATION_MAX:
        return f"Keep it under {JUSTIFICATION_MAX} characters; link to a ticket for more."
    return None


def justification_required(card: Card, action: Action) -> bool:
    return action in card.actions and action_look(card, action).justification


def action_look(card: Card, action: Action) -> ActionLook:
    """How ``action`` is offered on this card: a risky Approve asks first, and says why."""
    look = ACTION_LOOKS[action]
    if action is not Action.APPROVE or not card.risk.risky:
        return look
    risk = card.risk
    steps = []
    if risk.justification:
        steps.append("Next you write why.")
    if card.approvals_required > 1:
        steps.append(f"It takes {card.approvals_required} distinct approvers.")
    lead = f"Risky: {'; '.join(risk.reasons)}."
    tail = " ".join(steps)
    room = CONFIRM_TEXT_LIMIT - len(lead) - len(tail) - 2
    grant = card.grant[0] if card.grant else ""
    if len(grant) > room:
        grant = grant[: max(0, room - 1)] + "…" if room > 1 else ""
    text = " ".join(part for part in (lead, grant, tail) if part)
    return ActionLook(look.label, look.style, Confirmation(
        title="Approve a risky flow?", text=text[:CONFIRM_TEXT_LIMIT],
        confirm="Continue" if risk.justification else "Approve"),
        justification=risk.justification)


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


def related_cards(card: Card, others: Iterable[Card]) -> tuple[Related, ...]:
    """The other open anomalies of ``card``'s client workload, as the card lists them."""
    client = card.client
    return tuple(
        Related(anomaly_id=other.anomaly_id, label=flow_label(other.target),
                severity=other.severity.value, state=other.state.value)
        for other in others
        if other.anomaly_id != card.anomaly_id and other.cluster == card.cluster
        and other.state in OPEN_STATES and (other.client.namespace, other.client.name,
                                           other.client.kind) ==
        (client.namespace, client.name, client.kind))


def flow_label(target: Target) -> str:
    """The target plus its HTTP call, if any: several calls to one service share a target."""
    http = target_details(target).get("HTTP")
    return f"{target_label(target)} {http}" if http else target_label(target)
