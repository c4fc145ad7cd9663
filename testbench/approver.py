"""A person working through the cards during a fault run: finds the cards of the flows meant
to be approved in the stand-in's channels and clicks Approve (a signed request, as Slack
sends it) until the database says the flow is decided — clicking again if the service died
before the click took effect, exactly as someone would whose click did nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.slack.ids import METADATA_EVENT_TYPE, ActionId
from chatbot.store.models import Anomaly
from testbench.flow_stream import APPROVER
from testbench.slack.signing import block_actions_payload, interaction_body, post_signed
from testbench.standin_process import StandinProcess

RECLICK_SECONDS = 4.0  # how long a person waits for a card to change before clicking again
LOOK_EVERY = 0.5
CLICK_TIMEOUT = 10.0


class Approver:
    def __init__(self, *, standin: StandinProcess, sessions: async_sessionmaker[AsyncSession],
                 channels: Iterable[str], wanted: Collection[str],
                 events_url: Callable[[], str | None], clicks_per_second: float = 2.0) -> None:
        self._standin = standin
        self._sessions = sessions
        self._channels = tuple(channels)
        self._wanted = set(wanted)
        self._events_url = events_url  # None while no replica is up to click on
        self._pause = 1.0 / clicks_per_second
        self._cards: dict[str, tuple[str, str]] = {}  # anomaly id -> (channel id, ts)
        self._clicked: dict[str, float] = {}
        self._channel_ids: dict[str, str] = {}
        self.clicks = 0
        self.refused = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._find_cards()
            for anomaly_id in await self._undecided():
                url = self._events_url()
                if url is None or stop.is_set():
                    break
                if time.monotonic() - self._clicked.get(anomaly_id, -RECLICK_SECONDS) < \
                        RECLICK_SECONDS:
                    continue
                await self._click(url, anomaly_id)
                await asyncio.sleep(self._pause)
            await asyncio.sleep(LOOK_EVERY)

    async def _find_cards(self) -> None:
        if not self._channel_ids:
            self._channel_ids = await self._standin.channel_ids()
        for channel in self._channels:
            for message in await self._standin.messages(channel):
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") != METADATA_EVENT_TYPE:
                    continue
                anomaly_id = str(metadata["event_payload"]["anomaly_id"])
                if anomaly_id in self._wanted:
                    self._cards.setdefault(anomaly_id, (self._channel_ids[channel],
                                                        str(message["ts"])))

    async def _undecided(self) -> list[str]:
        shown = sorted(self._cards)
        if not shown:
            return []
        async with self._sessions() as session:
            rows = await session.execute(select(Anomaly.id).where(Anomaly.id.in_(shown))
                                         .where(Anomaly.state == "pending"))
            return sorted(rows.scalars())

    async def _click(self, url: str, anomaly_id: str) -> None:
        channel_id, ts = self._cards[anomaly_id]
        payload = block_actions_payload(user_id=APPROVER, action_id=ActionId.APPROVE.value,
                                        value=anomaly_id, channel_id=channel_id, message_ts=ts)
        self._clicked[anomaly_id] = time.monotonic()
        try:
            async with asyncio.timeout(CLICK_TIMEOUT):
                status, _ = await post_signed(url, interaction_body(payload),
                                              self._standin.signing_secret)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return  # the service is down; click again later
        self.clicks += 1
        if status != 200:
            self.refused += 1
