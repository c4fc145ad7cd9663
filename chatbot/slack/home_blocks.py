"""Block Kit for the App Home tab: a person's pending queue, oldest first, with the same
decision buttons as the cards, as a ``views.publish`` home view. Pure, like :mod:`.blocks`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatbot.card import Card
from chatbot.slack.ids import HOME_PAGE_ACTION_ID
from chatbot.slack.queue_blocks import queue_blocks

View = dict[str, Any]


def home_view(cards: Sequence[Card], *, offset: int, total: int,
              next_offset: int | None) -> View:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Flows waiting for you"}},
        *queue_blocks(cards, query="", offset=offset, total=total, next_offset=next_offset,
                      page_action=HOME_PAGE_ACTION_ID),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Refreshed when a decision changes this list. `/flows` shows the same list in "
            "any channel.")}]},
    ]
    return {"type": "home", "blocks": blocks[:100]}
