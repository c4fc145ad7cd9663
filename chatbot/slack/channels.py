"""Channel names from the config resolved to Slack channel IDs (``conversations.list``).

Posting accepts a name, but reading history (to reconcile a post whose outcome was lost in
a crash) needs the ID, so IDs are learned once and cached.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")


class ChannelDirectory:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._ids: dict[str, str] = {}

    def remember(self, name: str, channel_id: str) -> None:
        self._ids[name] = channel_id

    async def channel_id(self, name: str) -> str | None:
        if _CHANNEL_ID.fullmatch(name):
            return name
        if name not in self._ids:
            await self._refresh()
        return self._ids.get(name)

    async def _refresh(self) -> None:
        cursor: str | None = None
        try:
            while True:
                page = await self._client.conversations_list(
                    limit=1000, cursor=cursor, exclude_archived=True,
                    types="public_channel,private_channel")
                channels: list[dict[str, Any]] = page.get("channels", [])
                for channel in channels:
                    self._ids[str(channel["name"])] = str(channel["id"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return
        except SlackApiError as error:
            log.warning("cannot list channels: %s", error.response.get("error"))
