"""Block Kit for a person's pending queue (``/flows``, App Home): one line per flow with its
own decision buttons, and a "Next page" button. Pure, like :mod:`.blocks`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chatbot.card import Card, target_label
from chatbot.slack.blocks import decision_buttons
from chatbot.slack.ids import PAGE_ACTION_ID
from chatbot.slack.mrkdwn import Mrkdwn, code, fit, prose

Block = dict[str, Any]

HELP = ("*/flows* lists the pending flows you may decide, oldest first, ten at a time.\n"
        "*/flows <namespace or workload>* narrows the list (a glob such as `shop-*` works).\n"
        "*/flows help* shows this text. Buttons here act like those on the flow's card.")


def queue_blocks(cards: Sequence[Card], *, query: str, offset: int, total: int,
                 next_offset: int | None, page_action: str = PAGE_ACTION_ID) -> list[Block]:
    where = f" matching {code(query)}" if query else ""
    if not cards:
        return [_text(f"No pending flows you may decide{where}.")]
    blocks: list[Block] = [_text(f"*{total} pending flow(s) you may decide{where}* "
                                 f"(showing {offset + 1}–{offset + len(cards)}, oldest first)")]
    for card in cards:
        flow = prose(f"{card.client.namespace}/{card.client.name} → "
                      f"{target_label(card.target)}")
        blocks.append(_text(f"{flow}\n{card.severity.value} · {card.state.value} · seen "
                            f"{card.event_count}× · {code(card.short_id)}"))
        buttons = decision_buttons(card)
        buttons.pop("block_id", None)  # block ids must be unique within one message
        blocks.append(buttons)
    if next_offset is not None:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "action_id": page_action,
            "text": {"type": "plain_text", "text": "Next page"},
            "value": json.dumps({"q": query[:200], "offset": next_offset})}]})
    return blocks[:50]


def _text(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(Mrkdwn(text), 3000)}}
