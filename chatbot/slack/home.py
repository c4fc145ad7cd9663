"""The App Home tab: publishes a person's pending queue with ``views.publish`` when they open
the tab, and again for everyone who opened it whenever a decision, an auto decision, a snooze
or a new flow may have changed their list.

Who opened the tab (and at which page) is remembered in memory only: a restarted replica
forgets, and the next ``app_home_opened`` teaches it again — the tab never shows anything
that is not read fresh from the store. Refreshes are coalesced: while one runs, further
requests only mark it to run once more, so a burst of decisions costs one publish per person.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.queue import PendingQueue
from chatbot.slack.home_blocks import home_view

log = logging.getLogger(__name__)

MAX_VIEWERS = 1000  # the least recently seen are forgotten first


class HomeTab:
    def __init__(self, *, client: AsyncWebClient, queue: PendingQueue,
                 max_viewers: int = MAX_VIEWERS) -> None:
        self._client = client
        self._queue = queue
        self._max_viewers = max_viewers
        self._viewers: OrderedDict[str, int] = OrderedDict()  # user id -> page offset
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False

    async def opened(self, user_id: str, *, offset: int = 0) -> None:
        """The person looks at the tab (or turned its page): remember them and publish."""
        if not user_id:
            return
        self._viewers[user_id] = max(0, offset)
        self._viewers.move_to_end(user_id)
        while len(self._viewers) > self._max_viewers:
            self._viewers.popitem(last=False)
        await self._publish(user_id, self._viewers[user_id])

    def refresh(self) -> None:
        """Something changed: republish for everyone remembered (coalesced, in background)."""
        if not self._viewers:
            return
        if self._refreshing is not None and not self._refreshing.done():
            self._again = True
            return
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh_all())

    async def settled(self) -> None:
        """Wait for a running refresh (tests, shutdown)."""
        while self._refreshing is not None and not self._refreshing.done():
            await asyncio.wait({self._refreshing})

    async def _refresh_all(self) -> None:
        while True:
            self._again = False
            for user_id, offset in list(self._viewers.items()):
                try:
                    await self._publish(user_id, offset)
                except Exception:  # one person's tab must not stop the others'
                    log.exception("refreshing the App Home of %s failed", user_id)
            if not self._again:
                return

    async def _publish(self, user_id: str, offset: int) -> None:
        page = await self._queue.page(user_id=user_id, offset=offset)
        if not page.cards and page.offset > 0:  # the page emptied: back to the first one
            page = await self._queue.page(user_id=user_id)
            self._viewers[user_id] = 0
        view = home_view(page.cards, offset=page.offset, total=page.total,
                         next_offset=page.next_offset)
        try:
            await self._client.views_publish(user_id=user_id, view=view)
        except SlackApiError as error:
            log.warning("could not publish the App Home of %s: %s", user_id,
                        error.response.get("error"))
