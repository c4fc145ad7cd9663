"""The daily digest: one message per channel summing up what the decision rules decided,
instead of a card per flow. Works from stored state like the outbox: the rows are claimed
under one digest key, the message carries that key in its metadata, and a pass that finds a
key claimed before a crash looks for that message in the channel before posting again — so
each batch is posted exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.clock import Clock
from chatbot.slack.channels import ChannelDirectory
from chatbot.slack.delivery import find_posted
from chatbot.slack.digest_blocks import digest_message
from chatbot.slack.ids import DIGEST_EVENT_TYPE
from chatbot.store import triage
from chatbot.store.triage import DigestBatch
from chatbot.waiting import nap

log = logging.getLogger(__name__)


class DecisionDigest:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], client: AsyncWebClient,
                 clock: Clock, every_seconds: float) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._every = timedelta(seconds=every_seconds)
        self._channels = ChannelDirectory(client)
        # Often enough that a digest goes out soon after it is due, rarely enough to be free.
        self._poll = min(60.0, max(0.5, every_seconds / 4))

    async def run(self, stop: asyncio.Event) -> None:
        idle = asyncio.Event()
        while not stop.is_set():
            try:
                await self.send_due()
            except Exception:  # Slack or the database away: the rows stay unreported
                log.exception("sending the decision digest failed; retrying")
            await nap(idle, stop, seconds=self._poll)

    async def send_due(self) -> int:
        """Post every digest that is due; the number of messages posted."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            batches = await triage.claim_digests(session, due_before=now - self._every)
        posted = 0
        for batch in batches:
            if await self._send(batch):
                posted += 1
        return posted

    async def _send(self, batch: DigestBatch) -> bool:
        if batch.claimed_before:
            channel_id = await self._channels.channel_id(batch.channel)
            since = min((line.card.decided_at for line in batch.lines if line.card.decided_at),
                        default=self._clock.now())
            if channel_id and await find_posted(self._client, channel_id=channel_id,
                                                event_type=DIGEST_EVENT_TYPE,
                                                anomaly_id=batch.key, since=since):
                await self._record(batch)
                return False
        message = digest_message([(line.card, line.rule) for line in batch.lines],
                                 key=batch.key)
        try:
            await self._client.chat_postMessage(channel=batch.channel, unfurl_links=False,
                                                **message)
        except SlackApiError as error:
            log.warning("digest for #%s not posted: %s", batch.channel,
                        error.response.get("error"))
            return False
        await self._record(batch)
        return True

    async def _record(self, batch: DigestBatch) -> None:
        async with self._sessions.begin() as session:
            await triage.record_digest(session, batch.key, now=self._clock.now())
