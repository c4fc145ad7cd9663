"""Block Kit for the daily digest of auto decisions: one message per channel listing what the
decision rules approved or blocked, and by which rule. Pure, like :mod:`.blocks`."""

from __future__ import annotations

from typing import Any

from chatbot.card import Card, target_label
from chatbot.lifecycle import State
from chatbot.slack.ids import DIGEST_EVENT_TYPE
from chatbot.slack.mrkdwn import Mrkdwn, code, escape, fit, prose

_ICON = {State.BLOCKED: ":no_entry:"}
MAX_LINES = 40  # one section of 3000 characters holds about this many


def digest_message(lines: list[tuple[Card, str]], *, key: str) -> dict[str, Any]:
    """Keyword arguments for ``chat.postMessage`` (minus channel); ``lines`` are each flow
    with the name of the rule that decided it."""
    approved = sum(1 for line in lines if line[0].decision == "approve")
    blocked = len(lines) - approved
    title = (f"Decision rules decided {len(lines)} flow(s): {approved} approved, "
             f"{blocked} blocked")
    rows = [_line(line) for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        rows.append(f"…and {len(lines) - MAX_LINES} more (see the review page)")
    return {
        "text": title,
        "metadata": {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"anomaly_id": key}},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}},
            {"type": "section",
             "text": {"type": "mrkdwn", "text": fit(Mrkdwn("\n".join(rows)), 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "No card was posted for these. Each stays revocable: find it by its id on "
                "the review page or with `/flows`.")}]},
        ],
    }


def _line(line: tuple[Card, str]) -> str:
    card, rule = line
    icon = _ICON.get(card.state, ":white_check_mark:")
    verb = "blocked" if card.decision == "block" else "approved"
    flow = prose(f"{card.client.namespace}/{card.client.name} → {target_label(card.target)}")
    return f"{icon} {verb} {flow} by rule {code(rule)} · {code(card.short_id)}"
