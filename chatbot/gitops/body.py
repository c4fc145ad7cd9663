"""What a pull request says, pure: its title, and a body naming each flow, who approved it
and when, the justification if one was given, and the link back to the chat message.

Event data is untrusted: every value from a flow is put in a code span (backticks removed),
so a crafted name renders as text, never as a link, mention or markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from chatbot.card import Card, target_details, target_label

SLACK_URL = "https://slack.com"
MAX_BODY_CHARS = 60_000  # GitHub refuses bodies over 65,536 characters
MANAGER = "flow-approval-chatbot"


def justification_of(card: Card) -> str | None:
    """JUSTIFICATION HOOK: the reason the approver gave, once the decision stores one.

    The justification column arrives on a parallel branch (risk/justification); until the
    card has the field this finds nothing and the body says "none given"."""
    value = getattr(card, "justification", None)
    return value if isinstance(value, str) and value.strip() else None


def chat_link(card: Card, *, slack_url: str = SLACK_URL) -> str | None:
    """The chat message's permalink, built from where the message was stored (channel and
    timestamp), as ``chat.getPermalink`` would answer it; None before it was posted."""
    if not card.slack_channel_id or not card.slack_ts:
        return None
    return (f"{slack_url.rstrip('/')}/archives/{card.slack_channel_id}/"
            f"p{card.slack_ts.replace('.', '')}")


def title(cards: Sequence[Card]) -> str:
    if len(cards) == 1:
        card = cards[0]
        return f"Allow {card.client.namespace}/{card.client.name} → {target_label(card.target)}"
    clients = sorted({f"{c.client.namespace}/{c.client.name}" for c in cards})
    shown = ", ".join(clients[:3]) + (" …" if len(clients) > 3 else "")
    return f"Allow {len(cards)} approved flows ({shown})"


def body(cards: Sequence[Card], *, files: Sequence[str],
         link: Callable[[Card], str | None] = chat_link) -> str:
    lines = [f"Approved network flows, proposed by {MANAGER}. Merging this pull request "
             "applies them; closing it without merging sends each flow back to a decision "
             "in chat.", ""]
    for number, card in enumerate(cards, 1):
        lines.append(f"### {number}. {_code(card.client.namespace + '/' + card.client.name)}"
                     f" → {_code(target_label(card.target))}")
        for name, value in target_details(card.target).items():
            lines.append(f"- {name}: {_code(value)}")
        approvers = card.approvals or ((card.decided_by,) if card.decided_by else ())
        lines.append(f"- Approved by {', '.join(_code(a) for a in approvers) or 'unknown'}"
                     f" at {_when(card.decided_at)}")
        reason = justification_of(card)
        lines.append(f"- Justification: {_code(reason) if reason else 'none given'}")
        url = link(card)
        lines.append(f"- Chat message: {url}" if url else "- Chat message: not posted yet")
        lines.append(f"- Anomaly: {_code(card.anomaly_id)} ({card.event_count} connections "
                     f"seen, first {_when(card.first_seen)})")
        lines.append("")
    if files:
        lines.append("Files: " + ", ".join(_code(file) for file in files))
    text = "\n".join(lines).rstrip() + "\n"
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + "\n\n… (truncated; every flow is in the commit)\n"
    return text


def commit_message(cards: Sequence[Card]) -> str:
    subject = title(cards)
    details = [f"- {c.client.namespace}/{c.client.name} -> {target_label(c.target)} "
               f"(anomaly {c.short_id}, approved by {c.decided_by or 'unknown'})" for c in cards]
    return "\n".join([subject, "", *details, ""])


def _code(value: str) -> str:
    return "`" + value.replace("`", "'").replace("\n", " ") + "`"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "an unknown time"
