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
from chatbot.slack.mrkdwn import Mrkdwn, code, date, fit, lines, markup, mention

Block = dict[str, Any]

MAX_LABELS = 8
MAX_RELATED = 5
MAX_CURRENT = 8


def grant_block(card: Card) -> Block:
    shown: list[Mrkdwn] = []
    if card.risk.risky and card.state in OPEN_STATES:
        needs = []
        if card.risk.justification:
            needs.append("a justification")
        if card.approvals_required > 1:
            needs.append(f"{card.approvals_required} distinct approvers")
        shown.append(markup(":warning: *Risky*: {reasons}{also}",
                            reasons="; ".join(card.risk.reasons),
                            also=f" · Approve needs {' and '.join(needs)}" if needs else ""))
    shown.append(markup("*What Approve opens*" if card.state in OPEN_STATES
                        else "*What the approval opens*"))
    shown.extend(markup("• {line}", line=line) for line in card.grant)
    return {"type": "section", "block_id": BlockId.GRANT,
            "text": {"type": "mrkdwn", "text": fit(lines(shown), 3000)}}


def context_block(card: Card) -> Block | None:
    shown: list[Mrkdwn] = []
    if card.client.service_account:
        shown.append(markup("*ServiceAccount* {account}",
                            account=code(card.client.service_account)))
    labels = sorted(card.client.labels.items())
    if labels:
        pairs = Mrkdwn(" ".join(code(f"{key}={value}") for key, value in labels[:MAX_LABELS]))
        more = f" +{len(labels) - MAX_LABELS} more" if len(labels) > MAX_LABELS else ""
        shown.append(markup("*Client labels* {pairs}{more}", pairs=pairs, more=more))
    if card.related:
        shown.append(markup("*Also open for {name}* ({count}):", name=code(card.client.name),
                            count=str(len(card.related))))
        shown.extend(markup("• {severity} {label} ({id}, {state})", severity=r.severity,
                            label=r.label, id=code(r.anomaly_id[:8]), state=r.state)
                     for r in card.related[:MAX_RELATED])
        if len(card.related) > MAX_RELATED:
            shown.append(markup("• … and {n} more", n=str(len(card.related) - MAX_RELATED)))
    if card.current_targets is not None:
        shown.append(markup("*Its intents now*:{none}",
                            none="" if card.current_targets else " none"))
        shown.extend(markup("• {line}", line=line) for line in card.current_targets[:MAX_CURRENT])
        if len(card.current_targets) > MAX_CURRENT:
            shown.append(markup("• … and {n} more",
                                n=str(len(card.current_targets) - MAX_CURRENT)))
    if not shown:
        return None
    return {"type": "section", "block_id": BlockId.CONTEXT,
            "text": {"type": "mrkdwn", "text": fit(lines(shown), 3000)}}


def record_lines(card: Card) -> list[Mrkdwn]:
    """Outcome lines for justifications and revokes (after the decision lines)."""
    shown: list[Mrkdwn] = []
    if card.state in (State.REVOKING, State.REVOKED):
        shown.append(markup(":white_check_mark: *Approved* by {who} {when}",
                            who=_who(card.decided_by), when=_when(card.decided_at)))
        shown.append(markup(":leftwards_arrow_with_hook: *Revoked* by {who} {when}",
                            who=_who(card.revoked_by), when=_when(card.revoked_at)))
    shown.extend(markup(":memo: *Why* ({action}, {who}): {text}", action=given.action,
                        who=_who(given.by), text=given.text)
                 for given in card.justifications)
    if card.state is State.REVOKING:
        if card.apply_error:
            shown.append(markup(":warning: Removing the target failed (attempt {attempt}), "
                                "retrying: {error}", attempt=str(card.apply_attempts),
                                error=code(card.apply_error)))
        else:
            shown.append(markup(":hourglass_flowing_sand: Removing the target this approval "
                                "added…"))
    if card.state is State.REVOKED:
        if card.revoke_result:
            shown.append(markup(":wastebasket: {result}", result=card.revoke_result))
        shown.append(markup(":repeat: If the flow is seen again, it asks for a new decision."))
    return shown


def _who(user: str | None) -> Mrkdwn:
    """A live mention for a Slack user; an operator (``cli:alice``) as code."""
    if not user:
        return markup("someone")
    return mention(user) if user[:1] in ("U", "W") and user.isalnum() else code(user)


def _when(moment: datetime | None) -> Mrkdwn:
    return date(moment) if moment is not None else Mrkdwn("")
