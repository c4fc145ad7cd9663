"""The ``/flows`` slash command and its "Next page" button: the caller's pending queue as an
ephemeral message. Bolt checks the request signature before any listener runs, as it does
for button clicks; each listener acks at once and answers with ``chat.postEphemeral``."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.queue import PendingQueue
from chatbot.slack.ids import PAGE_ACTION_ID
from chatbot.slack.queue_blocks import HELP, queue_blocks

log = logging.getLogger(__name__)

COMMAND = "/flows"


def register(app: AsyncApp, *, queue: PendingQueue) -> None:
    async def on_flows(ack: AsyncAck, command: dict[str, Any],
                       client: AsyncWebClient) -> None:
        await ack()
        query = str(command.get("text", "")).strip()
        user_id, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
        if query.lower() == "help":
            await _tell(client, channel, user_id, HELP, [])
            return
        await _page(client, queue, channel=channel, user_id=user_id, query=query, offset=0)

    async def on_page(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                      client: AsyncWebClient) -> None:
        await ack()
        try:
            wanted = json.loads(str(action.get("value", "")))
            query, offset = str(wanted.get("q", "")), int(wanted.get("offset", 0))
        except (ValueError, TypeError, AttributeError):
            query, offset = "", 0
        channel = str((body.get("channel") or {}).get("id") or
                      (body.get("container") or {}).get("channel_id") or "")
        await _page(client, queue, channel=channel, user_id=str(body.get("user", {}).get("id")),
                    query=query, offset=offset)

    app.command(COMMAND)(on_flows)
    app.action(PAGE_ACTION_ID)(on_page)


async def _page(client: AsyncWebClient, queue: PendingQueue, *, channel: str, user_id: str,
                query: str, offset: int) -> None:
    page = await queue.page(user_id=user_id, query=query, offset=offset)
    blocks = queue_blocks(page.cards, query=query, offset=page.offset, total=page.total,
                          next_offset=page.next_offset)
    await _tell(client, channel, user_id, f"{page.total} pending flow(s) you may decide",
                blocks)


async def _tell(client: AsyncWebClient, channel: str, user_id: str, text: str,
                blocks: list[dict[str, Any]]) -> None:
    try:
        await client.chat_postEphemeral(channel=channel, user=user_id, text=text,
                                        blocks=blocks or None)
    except SlackApiError as error:
        log.warning("could not show /flows to %s: %s", user_id, error.response.get("error"))
