"""JSON views for the review page: pure functions from the same :class:`Card` the Slack message
is built from, so the page and the chat show the same facts, intent and buttons.

Values stay raw (not escaped): the page puts them into the DOM as text, never as markup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatbot.card import (
    ACTION_LOOKS,
    ESCALATION_WHY,
    ActionLook,
    Card,
    action_look,
    pull_request_look,
    target_details,
    target_label,
)
from chatbot.intents.document import targets_yaml
from chatbot.lifecycle import OPEN_STATES, Action
from chatbot.store.audit import Entry

View = dict[str, Any]


def card_view(card: Card, *, intents_file: View | None = None) -> View:
    """``intents_file`` is ``{"name", "text"}`` of the YAML the directory sink wrote, if any."""
    return {
        "id": card.anomaly_id,
        "short_id": card.short_id,
        "title": card_title(card),
        "cluster": card.cluster,
        "client": {"name": card.client.name, "namespace": card.client.namespace,
                   "kind": card.client.kind},
        "target": target_label(card.target),
        "facts": [["Cluster", card.cluster],
                  ["Client", f"{card.client.kind} {card.client.namespace}/{card.client.name}"],
                  *target_details(card.target).items(),
                  ["Reason", card.reason.value]],
        "severity": card.severity.value,
        "state": card.state.value,
        "open": card.state in OPEN_STATES,
        "allowed_actions": [action.value for action in card.actions],
        "count": card.event_count,
        "first_seen": _iso(card.first_seen),
        "last_seen": _iso(card.last_seen),
        "decided_by": card.decided_by,
        "decided_at": _iso(card.decided_at),
        "escalated_at": _iso(card.escalated_at),
        "escalation_reason": card.escalation_reason,
        "escalated_by": card.escalated_by,
        "retried_after_block_at": _iso(card.retried_after_block_at),
        "apply_error": card.apply_error,
        "apply_attempts": card.apply_attempts,
        "applied_object": card.applied_object,
        "pull_request": _pull_request(card),
        "covered_by": card.covered_by,
        "intent_yaml": targets_yaml(card.client, card.target),
        "intents_file": intents_file,
        **trust_view(card),
    }


def trust_view(card: Card) -> View:
    """What makes the decision one to trust: the card's own buttons (a risky Approve asks
    first), the risk, what Approve opens, the context and the record of who said why."""
    return {
        "actions": [look_view(action, action_look(card, action)) for action in card.actions],
        "risk": {"risky": card.risk.risky, "reasons": list(card.risk.reasons),
                 "justification": card.risk.justification},
        "grant": card.grant,
        "labels": dict(sorted(card.client.labels.items())),
        "service_account": card.client.service_account,
        "related": [{"id": r.anomaly_id, "short_id": r.anomaly_id[:8], "label": r.label,
                     "severity": r.severity, "state": r.state} for r in card.related],
        "current_targets": (list(card.current_targets) if card.current_targets is not None
                            else None),
        "approvals": list(card.approvals),
        "approvals_required": card.approvals_required,
        "justifications": [{"by": j.by, "action": j.action, "text": j.text}
                           for j in card.justifications],
        "revoked_by": card.revoked_by,
        "revoked_at": _iso(card.revoked_at),
        "revoke_result": card.revoke_result,
        "war_room": None if card.escalated_at is None else {
            "why": ESCALATION_WHY.get(card.escalation_trigger or "", "it was escalated"),
            "trigger": card.escalation_trigger},
    }


def look_view(action: Action, look: ActionLook) -> View:
    confirm = look.confirm
    return {
        "action": action.value,
        "label": look.label,
        "style": look.style or "default",
        "justification": look.justification,
        "confirm": None if confirm is None else {
            "title": confirm.title, "text": confirm.text, "confirm": confirm.confirm,
            "deny": confirm.deny},
    }


def card_title(card: Card) -> str:
    """The Slack header's words (without its severity emoji)."""
    return f"{card.client.name} → {target_label(card.target)}"


def flow_label(card: Card) -> str:
    """The title plus the HTTP call, if any: several calls to one service share a title."""
    http = target_details(card.target).get("HTTP")
    return f"{card_title(card)} {http}" if http else card_title(card)


def action_views() -> list[View]:
    """The decision buttons' plain looks; each card's own (``actions``) may ask more."""
    return [look_view(action, look) for action, look in ACTION_LOOKS.items()]


def audit_view(entry: Entry, flows: dict[str, str]) -> View:
    """``flows`` maps anomaly ids to their :func:`flow_label`, for a readable audit line."""
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "anomaly_id": entry.anomaly_id,
        "short_id": entry.anomaly_id[:8],
        "flow": flows.get(entry.anomaly_id, ""),
        "actor": entry.actor,
        "action": entry.action,
        "result": entry.result,
        "detail": entry.detail,
    }


def parse_action(value: str) -> Action | None:
    try:
        return Action(value)
    except ValueError:
        return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _pull_request(card: Card) -> dict[str, str] | None:
    look = pull_request_look(card)
    return None if look is None else {"url": look.url, "state": look.state, "text": look.text}
