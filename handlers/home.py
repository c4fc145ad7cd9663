"""The App Home tab as it arrives from chat: ``app_home_opened`` events (signed like every
request; bolt acks events itself) and the tab's "Next page" button. The tab is published by
:class:`chatbot.slack.home.HomeTab`; its decision buttons are the ordinary action ids, so
:mod:`handlers.actions` decides them like clicks on a card."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from chatbot.slack.home import HomeTab
from chatbot.slack.ids import HOME_PAGE_ACTION_ID

EVENT = "app_home_opened"


def register(app: AsyncApp, *, home: HomeTab) -> None:
    async def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab: nothing of ours to show there
        await home.opened(str(event.get("user", "")))

    async def on_page(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        try:
            offset = int(json.loads(str(action.get("value", ""))).get("offset", 0))
        except (ValueError, TypeError, AttributeError):
            offset = 0
        await home.opened(str((body.get("user") or {}).get("id", "")), offset=offset)

    app.event(EVENT)(on_home_opened)
    app.action(HOME_PAGE_ACTION_ID)(on_page)
