"""Block Kit for snoozing a card: the "Snooze 1 h / 1 day" buttons, in their own block
after the decision buttons, and the "snoozed until" line. Pure, like :mod:`.blocks`."""

from __future__ import annotations

from typing import Any

from chatbot.card import Card
from chatbot.lifecycle import OPEN_STATES
from chatbot.slack.ids import BlockId, SnoozeId
from chatbot.slack.mrkdwn import date, markup, mention

Block = dict[str, Any]


def snooze_blocks(card: Card) -> list[Block]:
    """Nothing for a decided flow; otherwise the snooze line (when snoozed) and buttons."""
    if card.state not in OPEN_STATES:
        return []
    blocks: list[Block] = []
    if card.snoozed_until is not None:
        who = markup(" by {user}", user=mention(card.snoozed_by)) if card.snoozed_by else ""
        text = markup(":zzz: Snoozed{who} until {until}: updates are held back unless its "
                      "severity rises.", who=who, until=date(card.snoozed_until))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    blocks.append({"type": "actions", "block_id": BlockId.SNOOZE, "elements": [
        {"type": "button", "action_id": snooze.value, "value": card.anomaly_id,
         "text": {"type": "plain_text", "text": snooze.label}} for snooze in SnoozeId]})
    return blocks
