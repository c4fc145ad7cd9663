"""Approve / Block / Escalate button clicks on an anomaly message.

Each listener acks at once (Slack wants an answer within 3 s), then decides through the
shared :class:`~chatbot.decisions.Decider`. The message itself is re-rendered by the Slack
outbox from stored state; the clicker only gets an ephemeral note when nothing changed. A
failure to decide at all (the database is away) is answered by :mod:`handlers.errors`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.decisions import Decider, Verdict
from chatbot.slack.ids import ActionId

log = logging.getLogger(__name__)


def register(app: AsyncApp, *, decider: Decider) -> None:
    for action_id in ActionId:
        app.action(action_id.value)(_listener(decider, action_id))


def _listener(decider: Decider, action_id: ActionId) -> Any:
    async def on_click(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                       client: AsyncWebClient) -> None:
        await ack()
        user_id = str(body.get("user", {}).get("id", ""))
        anomaly_id = str(action.get("value", ""))
        outcome = await decider.decide(anomaly_id=anomaly_id, action=action_id.action,
                                       user_id=user_id)
        log.info("decision %s by %s: %s", action_id.action, user_id, outcome.verdict,
                 extra={"anomaly_id": anomaly_id})
        if outcome.verdict is Verdict.DECIDED:
            return
        channel = str((body.get("channel") or {}).get("id") or
                      (body.get("container") or {}).get("channel_id") or "")
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=outcome.message)
        except SlackApiError as error:
            log.warning("could not tell %s why nothing changed: %s", user_id,
                        error.response.get("error"))

    on_click.__name__ = f"on_{action_id.action}"
    return on_click
