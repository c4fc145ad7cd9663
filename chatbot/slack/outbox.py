"""The Slack outbox: posts a message for every new anomaly and re-renders messages whose
anomaly changed, working only from stored state.

Because work is read from the database, a Slack outage delays messages but loses none, and
a crash at any point resumes: a post whose outcome was never recorded is looked up in the
channel history by its metadata before it is posted again, so nothing is posted twice.
Each channel is a lane paced to Slack's per-channel limit; a 429 holds only that lane.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import card_from_row
from chatbot.clock import Clock
from chatbot.slack.blocks import anomaly_message, message_metadata
from chatbot.slack.channels import ChannelDirectory
from chatbot.slack.ids import METADATA_EVENT_TYPE
from chatbot.slack.pacing import ChannelPacer
from chatbot.store.audit import record
from chatbot.store.models import Anomaly
from chatbot.waiting import nap

log = logging.getLogger(__name__)

POST_LEASE = timedelta(seconds=30)
COUNTER_UPDATE_EVERY = timedelta(seconds=10)
MAX_RETRY = 300.0


class SlackOutbox:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        clock: Clock,
        pacer: ChannelPacer | None = None,
        on_call: Callable[[str, str], None] = lambda _method, _outcome: None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._pacer = pacer or ChannelPacer()
        self._channels = ChannelDirectory(client)
        self._on_call = on_call
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self.healthy = True

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, poll_seconds: float = 1.0) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.dispatch()
                except Exception:
                    log.exception("slack outbox pass failed; retrying")
                self._wake.clear()
                await nap(self._wake, stop, seconds=poll_seconds)
        finally:
            await self.drain()

    async def drain(self) -> None:
        if self._lanes:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)

    async def dispatch(self) -> int:
        """Start a lane for every channel that has due work and no lane running."""
        work = await self._due()
        for channel, anomaly_ids in work.items():
            lane = self._lanes.get(channel)
            if lane is None or lane.done():
                self._lanes[channel] = asyncio.create_task(self._lane(channel, anomaly_ids))
        return sum(len(ids) for ids in work.values())

    async def _due(self, limit: int = 500) -> dict[str, list[str]]:
        now = self._clock.now()
        counters_due = now - COUNTER_UPDATE_EVERY
        async with self._sessions() as session:
            rows = (await session.execute(
                select(Anomaly.id, Anomaly.channel)
                .where(or_(
                    and_(Anomaly.slack_ts.is_(None),
                         or_(Anomaly.next_post_at.is_(None), Anomaly.next_post_at <= now)),
                    and_(Anomaly.slack_ts.is_not(None),
                         Anomaly.message_revision < Anomaly.revision,
                         or_(Anomaly.message_version < Anomaly.version,
                             Anomaly.message_updated_at.is_(None),
                             Anomaly.message_updated_at <= counters_due)),
                ))
                .order_by(Anomaly.first_seen).limit(limit)
            )).all()
        work: dict[str, list[str]] = defaultdict(list)
        for anomaly_id, channel in rows:
            work[channel].append(anomaly_id)
        return work

    async def _lane(self, channel: str, anomaly_ids: list[str]) -> None:
        for anomaly_id in anomaly_ids:
            await self._pacer.turn(channel)
            try:
                await self._deliver(anomaly_id)
                self.healthy = True
            except SlackApiError as error:
                delay = self._retry_delay(error)
                self._pacer.hold(channel, delay)
                await self._defer(anomaly_id, delay)
                if error.response.status_code == 429:
                    return  # the rest of this channel waits for the next pass
            except (OSError, TimeoutError) as error:
                self.healthy = False
                log.warning("slack unreachable: %s", error)
                await self._defer(anomaly_id, 5.0)
                return

    async def _deliver(self, anomaly_id: str) -> None:
        async with self._sessions() as session:
            row = await session.get(Anomaly, anomaly_id)
            if row is None:
                return
            if row.slack_ts is None:
                await self._post(session, row)
            elif row.message_revision < row.revision:
                await self._update(row)

    async def _post(self, session: AsyncSession, row: Anomaly) -> None:
        now = self._clock.now()
        attempted_before = row.post_attempted_at
        claimed = await session.execute(
            update(Anomaly).where(Anomaly.id == row.id).where(Anomaly.slack_ts.is_(None))
            .where(or_(Anomaly.next_post_at.is_(None), Anomaly.next_post_at <= now))
            .values(next_post_at=now + POST_LEASE, post_attempted_at=now,
                    post_attempts=Anomaly.post_attempts + 1)
            .execution_options(synchronize_session=False))
        await session.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return  # another replica holds it
        await session.refresh(row)
        if attempted_before is not None:
            found = await self._find_posted(row.channel, row.id, attempted_before)
            if found is not None:
                log.info("reconciled an earlier post", extra={"anomaly_id": row.id})
                await self._record_post(row, found[0], found[1], row.revision, row.version,
                                        reconciled=True)
                return
        card = card_from_row(row)
        response = await self._client.chat_postMessage(
            channel=row.channel, metadata=message_metadata(card), unfurl_links=False,
            unfurl_media=False, **anomaly_message(card))
        self._on_call("chat.postMessage", "ok")
        self._channels.remember(row.channel, str(response["channel"]))
        await self._record_post(row, str(response["channel"]), str(response["ts"]),
                                row.revision, row.version, reconciled=False)

    async def _record_post(self, row: Anomaly, channel_id: str, ts: str, revision: int,
                           version: int, *, reconciled: bool) -> None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await session.execute(
                update(Anomaly).where(Anomaly.id == row.id)
                .values(slack_channel_id=channel_id, slack_ts=ts, next_post_at=None,
                        message_revision=revision, message_version=version,
                        message_updated_at=now)
                .execution_options(synchronize_session=False))
            record(session, anomaly_id=row.id, actor="system", action="post", now=now,
                   result="reconciled" if reconciled else "posted",
                   detail={"channel": channel_id, "ts": ts})

    async def _update(self, row: Anomaly) -> None:
        assert row.slack_channel_id and row.slack_ts
        card = card_from_row(row)
        await self._client.chat_update(channel=row.slack_channel_id, ts=row.slack_ts,
                                       **anomaly_message(card))
        self._on_call("chat.update", "ok")
        async with self._sessions.begin() as session:
            await session.execute(
                update(Anomaly).where(Anomaly.id == row.id)
                .where(Anomaly.message_revision < row.revision)
                .values(message_revision=row.revision, message_version=row.version,
                        message_updated_at=self._clock.now())
                .execution_options(synchronize_session=False))

    async def note_in_thread(self, anomaly_id: str, text: str) -> None:
        """A reply under the anomaly's card; best effort, never blocks a state change."""
        async with self._sessions() as session:
            row = await session.get(Anomaly, anomaly_id)
        if row is None or not row.slack_ts or not row.slack_channel_id:
            return
        await self._pacer.turn(row.channel)
        try:
            await self._client.chat_postMessage(channel=row.slack_channel_id,
                                                thread_ts=row.slack_ts, text=text)
            self._on_call("chat.postMessage", "ok")
        except SlackApiError as error:
            self._pacer.hold(row.channel, self._retry_delay(error))
            log.warning("could not reply in the thread of %s", anomaly_id)

    async def _find_posted(self, channel: str, anomaly_id: str,
                           since: datetime) -> tuple[str, str] | None:
        channel_id = await self._channels.channel_id(channel)
        if channel_id is None:
            return None
        oldest = f"{(since - timedelta(minutes=5)).timestamp():.6f}"
        cursor: str | None = None
        while True:
            page = await self._client.conversations_history(
                channel=channel_id, oldest=oldest, limit=200, include_all_metadata=True,
                cursor=cursor)
            messages: list[dict[str, Any]] = page.get("messages", [])
            for message in messages:
                if _is_card_of(message, anomaly_id):
                    return channel_id, str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def _defer(self, anomaly_id: str, delay: float) -> None:
        """Retry later; for an unposted anomaly this also releases the post lease."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Anomaly).where(Anomaly.id == anomaly_id).where(Anomaly.slack_ts.is_(None))
                .values(next_post_at=self._clock.now() + timedelta(seconds=delay))
                .execution_options(synchronize_session=False))

    def _retry_delay(self, error: SlackApiError) -> float:
        response = error.response
        self._on_call(_method_of(response.api_url), str(response.status_code))
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After") or response.headers.get(
                "retry-after") or "1"
            return min(MAX_RETRY, float(retry_after))
        log.warning("slack refused a call: %s (%s)", response.get("error"), response.status_code)
        return 5.0 if response.status_code >= 500 else 60.0


def _is_card_of(message: dict[str, Any], anomaly_id: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == METADATA_EVENT_TYPE
                and payload.get("anomaly_id") == anomaly_id)


def _method_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]
