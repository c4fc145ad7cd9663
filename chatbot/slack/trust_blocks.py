"""The parts of an anomaly card that make a decision one can trust, as Block Kit: what Approve
really opens for the configured output and how careful the risk rules want the decision, the
client's context (labels, its other open anomalies, its intents as they stand), and the
record afterwards (who justified, who revoked, what the revoke removed). Pure, like
:mod:`chatbot.slack.blocks`, which places these blocks in the message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatbot.card import Card
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.slack.ids import BlockId
from chatbot.slack.mrkdwn import code, escape, fit

Block = dict[str, Any]

MAX_LABELS = 8
MAX_RELATED = 5
MAX_CURRENT = 8


def grant_block(card: Card) -> Block:
    lines = []
    if card.risk.risky and card.state in OPEN_STATES:
        needs = []
        if card.risk.justification:
            needs.append("a justification")
        if card.approvals_required > 1:
            needs.append(f"{card.approvals_required} distinct approvers")
        also = f" · Approve needs {' and '.join(needs)}" if needs else ""
        lines.append(f":warning: *Risky*: {escape('; '.join(card.risk.reasons))}{also}")
    lead = ("*What Approve opens*" if card.state in OPEN_STATES
            else "*What the approval opens*")
    lines.append(lead)
    lines.extend(f"• {escape(line)}" for line in card.grant)
    return {"type": "section", "block_id": BlockId.GRANT,
            "text": {"type": "mrkdwn", "text": fit("\n".join(lines), 3000)}}


def context_block(card: Card) -> Block | None:
    parts = []
    if card.client.service_account:
        parts.append(f"*ServiceAccount* {code(card.client.service_account)}")
    labels = sorted(card.client.labels.items())
    if labels:
        shown = " ".join(code(f"{key}={value}") for key, value in labels[:MAX_LABELS])
        more = f" +{len(labels) - MAX_LABELS} more" if len(labels) > MAX_LABELS else ""
        parts.append(f"*Client labels* {shown}{more}")
    if card.related:
        items = [f"• {escape(r.severity)} {escape(r.label)} ({code(r.anomaly_id[:8])}, "
                 f"{escape(r.state)})" for r in card.related[:MAX_RELATED]]
        if len(card.related) > MAX_RELATED:
            items.append(f"• … and {len(card.related) - MAX_RELATED} more")
        parts.append(f"*Also open for {code(card.client.name)}* "
                     f"({len(card.related)}):\n" + "\n".join(items))
    if card.current_targets is not None:
        current = [f"• {escape(line)}" for line in card.current_targets[:MAX_CURRENT]]
        if len(card.current_targets) > MAX_CURRENT:
            current.append(f"• … and {len(card.current_targets) - MAX_CURRENT} more")
        parts.append(f"*Its intents now*: {'none' if not current else ''}\n"
                     + "\n".join(current))
    if not parts:
        return None
    return {"type": "section", "block_id": BlockId.CONTEXT,
            "text": {"type": "mrkdwn", "text": fit("\n".join(parts), 3000)}}


def record_lines(card: Card) -> list[str]:
    """Outcome lines for justifications and revokes (after the decision lines)."""
    lines = []
    if card.state in (State.REVOKING, State.REVOKED):
        lines.append(f":white_check_mark: *Approved* by {_who(card.decided_by)} "
                     f"{_when(card.decided_at)}")
        lines.append(f":leftwards_arrow_with_hook: *Revoked* by {_who(card.revoked_by)} "
                     f"{_when(card.revoked_at)}")
    for given in card.justifications:
        lines.append(f":memo: *Why* ({escape(given.action)}, {_who(given.by)}): "
                     f"{escape(given.text)}")
    if card.state is State.REVOKING:
        if card.apply_error:
            lines.append(f":warning: Removing the target failed (attempt {card.apply_attempts}), "
                         f"retrying: {escape(card.apply_error)}")
        else:
            lines.append(":hourglass_flowing_sand: Removing the target this approval added…")
    if card.state is State.REVOKED:
        if card.revoke_result:
            lines.append(f":wastebasket: {escape(card.revoke_result)}")
        lines.append(":repeat: If the flow is seen again, it asks for a new decision.")
    return lines


def _who(user: str | None) -> str:
    if not user:
        return "someone"
    return f"<@{user}>" if user[:1] in ("U", "W") and user.isalnum() else code(user)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='seconds')}>"
