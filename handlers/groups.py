"""The "Approve all I may decide" button on a grouped card.

Acks at once, sweeps through :class:`~chatbot.bulk.BulkDecider`, and tells the clicker the
result in an ephemeral note — a refusal above all, since a refused sweep changes nothing on
the card. The card itself is re-rendered by the outbox from stored state.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.bulk import BulkDecider
from chatbot.slack.ids import APPROVE_ALL_ACTION_ID

log = logging.getLogger(__name__)


def register(app: AsyncApp, *, bulk: BulkDecider) -> None:
    async def on_approve_all(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                             client: AsyncWebClient) -> None:
        await ack()
        user_id = str(body.get("user", {}).get("id", ""))
        group_id = str(action.get("value", ""))
        outcome = await bulk.approve_all(group_id=group_id, user_id=user_id)
        log.info("approve all by %s: %d approved, %d left%s", user_id, outcome.approved,
                 outcome.left, " (refused)" if outcome.refused else "",
                 extra={"group_id": group_id})
        channel = str((body.get("channel") or {}).get("id") or
                      (body.get("container") or {}).get("channel_id") or "")
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=outcome.message)
        except SlackApiError as error:
            log.warning("could not tell %s the bulk result: %s", user_id,
                        error.response.get("error"))

    app.action(APPROVE_ALL_ACTION_ID)(on_approve_all)
