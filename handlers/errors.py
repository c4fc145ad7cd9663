"""The one place a failure while handling a chat request becomes words for the person.

Known failures (a refused or stale decision) are answered by the listeners themselves; this
handler sees everything else — a database outage, a bug — and answers with an ephemeral
message carrying a short reference, logged with the same reference and the traceback, so the
person knows to try again and the operator can find the cause. Nothing internal (SQL, hosts,
tracebacks) reaches chat.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.error(on_error)


async def on_error(error: Exception, body: dict[str, Any], client: AsyncWebClient) -> None:
    ref = secrets.token_hex(4)
    user_id = str((body.get("user") or {}).get("id") or body.get("user_id") or "")
    log.error("handling a %s from Slack failed (ref %s): %s", body.get("type", "request"), ref,
              type(error).__name__, exc_info=error, extra={"ref": ref, "user": user_id})
    channel = _channel(body)
    if not user_id or not channel:
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=user_id, text=apology(body, ref))
    except SlackApiError as failed:
        log.warning("could not tell %s that handling failed: %s", user_id,
                    failed.response.get("error"), extra={"ref": ref})


def apology(body: dict[str, Any], ref: str) -> str:
    what = "record your decision" if body.get("type") == "block_actions" else \
        "answer your request"
    return (f":warning: I could not {what}, try again (ref {ref}). If it keeps failing, "
            f"give this reference to the people who run the bot.")


def _channel(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or
               (body.get("container") or {}).get("channel_id") or body.get("channel_id") or "")
