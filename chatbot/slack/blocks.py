"""Block Kit for an anomaly card: pure functions from a :class:`Card` to message dicts.

Limits respected here (Slack rejects larger): 50 blocks, section text 3000 characters,
10 fields of 2000, header 150, button text 75, fallback text kept under 4000.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatbot.card import ACTION_LOOKS, ActionLook, Card, target_details, target_label
from chatbot.intents.document import targets_yaml
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.slack.ids import METADATA_EVENT_TYPE, ActionId, BlockId
from chatbot.slack.mrkdwn import code, escape, fit, plain
from chatbot.slack.snooze_blocks import snooze_blocks

Block = dict[str, Any]

_SEVERITY_ICON = {"low": ":large_blue_circle:", "medium": ":large_yellow_circle:",
                  "high": ":large_orange_circle:", "critical": ":red_circle:"}


def anomaly_message(card: Card) -> dict[str, Any]:
    """Keyword arguments for ``chat.postMessage`` / ``chat.update`` (minus channel/ts)."""
    blocks: list[Block] = [_header(card), _facts(card), _intent(card)]
    if card.state in OPEN_STATES and card.actions:
        blocks.append(decision_buttons(card))
    blocks.extend(_outcome(card))
    blocks.extend(snooze_blocks(card))
    blocks.append(_footer(card))
    return {"text": fallback_text(card), "blocks": blocks[:50]}


def message_metadata(card: Card) -> dict[str, Any]:
    """Lets a restarted service find a message whose post outcome it never learned."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"anomaly_id": card.anomaly_id}}


def fallback_text(card: Card) -> str:
    text = (f"Flow anomaly in {card.cluster}: {card.client.namespace}/{card.client.name} → "
            f"{target_label(card.target)} ({card.state.replace('_', ' ')})")
    return fit(escape(text), 3000)


def decision_buttons(card: Card) -> Block:
    """One button per action the card's state still allows, looking as the card says."""
    return {"type": "actions", "block_id": BlockId.DECISION,
            "elements": [_button(ACTION_LOOKS[action], ActionId.of(action), card.anomaly_id)
                         for action in card.actions]}


def apply_failure(card: Card) -> str:
    """The thread reply when writing an approval first fails (later retries stay quiet)."""
    error = escape(card.apply_error or "unknown error")
    return fit(f":warning: Writing the ClientIntents for {code(card.client.namespace)}/"
               f"{code(card.client.name)} failed: {error}. It is retried with backoff; this "
               f"message's card shows the current state.", 3000)


def _header(card: Card) -> Block:
    icon = _SEVERITY_ICON.get(card.severity, "")
    http = target_details(card.target).get("HTTP")
    text = f"{icon} {card.client.name} → {target_label(card.target)}{f' {http}' if http else ''}"
    # plain_text is not parsed for mentions, but angle brackets are swapped for look-alikes
    # anyway so no client ever reads event data in a header as markup.
    text = text.replace("<", "‹").replace(">", "›")
    return {"type": "header", "block_id": BlockId.HEADER,
            "text": {"type": "plain_text", "text": plain(text, 150), "emoji": True}}


def _facts(card: Card) -> Block:
    facts = {
        "Cluster": card.cluster,
        "Client": f"{card.client.kind} {card.client.namespace}/{card.client.name}",
        **target_details(card.target),
        "Reason": card.reason.value,
        "Severity": card.severity.value,
        "Seen": f"{card.event_count}× (first {_when(card.first_seen)}, "
                f"last {_when(card.last_seen)})",
    }
    fields = [{"type": "mrkdwn", "text": fit(f"*{label}*\n{escape(value)}", 2000)}
              for label, value in list(facts.items())[:10]]
    return {"type": "section", "block_id": BlockId.FACTS, "fields": fields}


def _intent(card: Card) -> Block:
    where = f"{code(card.client.name)} in {code(card.client.namespace)}"
    lead = (f"*Approve adds to the ClientIntents of* {where}:" if card.state in OPEN_STATES
            else f"*ClientIntents change for* {where}:")
    lead = fit(lead, 600)
    body = fit(escape(targets_yaml(card.client, card.target)).replace("```", "ˋˋˋ"),
               3000 - len(lead) - 7)
    return {"type": "section", "block_id": BlockId.INTENT,
            "text": {"type": "mrkdwn", "text": f"{lead}\n```{body}```"}}


def _outcome(card: Card) -> list[Block]:
    lines: list[str] = []
    who = f"<@{card.decided_by}>" if card.decided_by else "someone"
    when = _when(card.decided_at) if card.decided_at else ""
    if card.escalated_at:
        why = f": {escape(card.escalation_reason)}" if card.escalation_reason else ""
        lines.append(f":rotating_light: *Escalated* {_when(card.escalated_at)}{why}")
    if card.approvals and card.state in OPEN_STATES:
        voters = ", ".join(f"<@{user}>" for user in card.approvals)
        lines.append(f":ballot_box_with_ballot: Approvals so far: {voters} "
                     f"({len(card.approvals)} of {card.approvals_required}); one Block ends it")
    if card.state in (State.APPROVED, State.APPLIED, State.APPLY_FAILED):
        lines.append(f":white_check_mark: *Approved* by {who} {when}")
    if card.state is State.APPROVED:
        lines.append(":hourglass_flowing_sand: Writing the ClientIntents…")
    if card.state is State.APPLIED and card.applied_object:
        lines.append(f":package: ClientIntents {code(card.applied_object)} updated")
    if card.state is State.APPLY_FAILED:
        error = escape(card.apply_error or "unknown error")
        lines.append(f":warning: Writing the ClientIntents failed (attempt "
                     f"{card.apply_attempts}), retrying: {error}")
    if card.state is State.BLOCKED or (card.state is State.ESCALATED and
                                        card.decision == "block"):
        lines.append(f":no_entry: *Blocked* by {who} {when}")
        if card.retried_after_block_at:
            lines.append(f":repeat: *Retried after block*: seen again "
                         f"{_when(card.retried_after_block_at)}")
    if not lines:
        return []
    return [{"type": "section", "block_id": BlockId.OUTCOME,
             "text": {"type": "mrkdwn", "text": fit("\n".join(lines), 3000)}}]


def _footer(card: Card) -> Block:
    text = f"anomaly {code(card.short_id)} · {card.state.replace('_', ' ')}"
    return {"type": "context", "block_id": BlockId.FOOTER,
            "elements": [{"type": "mrkdwn", "text": text}]}


def _button(look: ActionLook, action_id: ActionId, value: str) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "value": value,
                     "text": {"type": "plain_text", "text": plain(look.label, 75)}}
    if look.style:
        button["style"] = look.style
    if look.confirm:
        confirm = look.confirm
        button["confirm"] = {
            "title": {"type": "plain_text", "text": plain(confirm.title, 100)},
            "text": {"type": "mrkdwn", "text": fit(confirm.text, 300)},
            "confirm": {"type": "plain_text", "text": plain(confirm.confirm, 30)},
            "deny": {"type": "plain_text", "text": plain(confirm.deny, 30)}}
    return button


def _when(moment: datetime) -> str:
    """Slack renders this in each reader's time zone; the fallback is UTC ISO."""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='seconds')}>"
