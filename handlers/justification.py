"""The justification modal's submission (``view_submission``): validated before the modal
closes — no text is answered with a field error (``response_action: errors``) and the modal
stays open — then decided through the same :class:`~chatbot.decisions.Decider` as a click,
with the text stored, audited and written into the object's annotations."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.card import justification_problem
from chatbot.decisions import Decider, Verdict
from chatbot.lifecycle import Action
from chatbot.slack.ids import JUSTIFICATION_INPUT, BlockId, ViewId

log = logging.getLogger(__name__)


def register(app: AsyncApp, *, decider: Decider) -> None:
    app.view(ViewId.JUSTIFY.value)(_listener(decider))


def _listener(decider: Decider) -> Any:
    async def on_justified(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                           client: AsyncWebClient) -> None:
        text = submitted_text(view)
        problem = justification_problem(text)
        target = _target(view)
        if target is None:
            await ack(response_action="errors",
                      errors={BlockId.JUSTIFICATION.value: "This form is out of date; close it "
                                                           "and click the button again."})
            return
        if problem is not None:
            await ack(response_action="errors", errors={BlockId.JUSTIFICATION.value: problem})
            return
        await ack()
        anomaly_id, action, channel = target
        user_id = str((body.get("user") or {}).get("id", ""))
        outcome = await decider.decide(anomaly_id=anomaly_id, action=action, user_id=user_id,
                                       justification=text)
        log.info("justified %s by %s: %s", action, user_id, outcome.verdict,
                 extra={"anomaly_id": anomaly_id})
        if outcome.verdict is Verdict.DECIDED or not channel:
            return
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=outcome.message)
        except SlackApiError as error:
            log.warning("could not tell %s why nothing changed: %s", user_id,
                        error.response.get("error"))

    return on_justified


def submitted_text(view: dict[str, Any]) -> str | None:
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(BlockId.JUSTIFICATION.value) or {}).get(JUSTIFICATION_INPUT) or {}
    value = field.get("value")
    return value if isinstance(value, str) else None


def _target(view: dict[str, Any]) -> tuple[str, Action, str] | None:
    try:
        meta = json.loads(str(view.get("private_metadata") or ""))
        return str(meta["anomaly_id"]), Action(meta["action"]), str(meta.get("channel") or "")
    except (ValueError, KeyError, TypeError):
        return None
