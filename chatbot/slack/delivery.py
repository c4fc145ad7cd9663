"""Pieces every Slack delivery shares: finding a message whose post outcome was lost in a
crash (by its metadata), and how long to wait after Slack refused a call."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

MAX_RETRY = 300.0


async def find_posted(client: AsyncWebClient, *, channel_id: str, event_type: str,
                      anomaly_id: str, since: datetime) -> str | None:
    """The ``ts`` of a message we posted for this anomaly after ``since``, if there is one."""
    oldest = f"{(since - timedelta(minutes=5)).timestamp():.6f}"
    cursor: str | None = None
    while True:
        page = await client.conversations_history(channel=channel_id, oldest=oldest, limit=200,
                                                  include_all_metadata=True, cursor=cursor)
        messages: list[dict[str, Any]] = page.get("messages", [])
        for message in messages:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and payload.get("anomaly_id") == anomaly_id:
                return str(message["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return None


def retry_delay(error: SlackApiError) -> float:
    """Retry-After for a 429; a short pause for 5xx; a long one for other refusals."""
    response = error.response
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After") or response.headers.get(
            "retry-after") or "1"
        return min(MAX_RETRY, float(retry_after))
    log.warning("slack refused a call: %s (%s)", response.get("error"), response.status_code)
    return 5.0 if response.status_code >= 500 else 60.0
