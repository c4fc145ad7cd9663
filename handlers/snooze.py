"""The "Snooze 1 h / 1 day" buttons on an anomaly card.

Each listener acks at once, then snoozes through the shared :class:`~chatbot.snooze.Snoozer`
and tells the clicker what happened in an ephemeral note (a snooze changes only the card's
snooze line, so the person would otherwise see little). The card itself is re-rendered by the
outbox from stored state.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.slack.ids import SnoozeId
from chatbot.snooze import Snoozer

log = logging.getLogger(__name__)


def register(app: AsyncApp, *, snoozer: Snoozer) -> None:
    for snooze_id in SnoozeId:
        app.action(snooze_id.value)(_listener(snoozer, snooze_id))


def _listener(snoozer: Snoozer, snooze_id: SnoozeId) -> Any:
    async def on_snooze(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                        client: AsyncWebClient) -> None:
        await ack()
        user_id = str(body.get("user", {}).get("id", ""))
        anomaly_id = str(action.get("value", ""))
        outcome = await snoozer.snooze(anomaly_id=anomaly_id, user_id=user_id,
                                       duration=snooze_id.duration)
        log.info("snooze %s by %s: %s", snooze_id.duration, user_id,
                 "ok" if outcome.snoozed else "refused or stale",
                 extra={"anomaly_id": anomaly_id})
        channel = str((body.get("channel") or {}).get("id") or
                      (body.get("container") or {}).get("channel_id") or "")
        if not channel:
            return  # clicked outside a channel (App Home): the tab itself shows the result
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=outcome.message)
        except SlackApiError as error:
            log.warning("could not tell %s about the snooze: %s", user_id,
                        error.response.get("error"))

    on_snooze.__name__ = f"on_{snooze_id.name.lower()}_snooze"
    return on_snooze
