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
from datetime import timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card, card_from_row
from chatbot.chaos import crash_point
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.escalation.war_room import WarRoomDesk
from chatbot.slack.blocks import anomaly_message, message_metadata
from chatbot.slack.channels import ChannelDirectory
from chatbot.slack.delivery import find_posted, method_of, retry_delay
from chatbot.slack.ids import METADATA_EVENT_TYPE
from chatbot.slack.pacing import ChannelPacer
from chatbot.store.audit import record
from chatbot.store.models import Anomaly
from chatbot.waiting import nap

log = logging.getLogger(__name__)

POST_LEASE = timedelta(seconds=30)
COUNTER_UPDATE_EVERY = timedelta(seconds=10)
CARD, WAR_ROOM = "card", "war-room"
Work = tuple[str, str]  # (CARD or WAR_ROOM, anomaly id)


class SlackOutbox:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        clock: Clock,
        rules: Rules | None = None,
        pacer: ChannelPacer | None = None,
        on_call: Callable[[str, str], None] = lambda _method, _outcome: None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._rules = rules or Rules(default_channel="flow-alerts")
        self._pacer = pacer or ChannelPacer()
        self._channels = ChannelDirectory(client)
        self._desk = (WarRoomDesk(sessions=sessions, client=client, rules=self._rules,
                                  clock=clock, channels=self._channels)
                      if self._rules.war_room_channel else None)
        self._on_call = on_call
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._delivering: set[str] = set()  # channels whose lane is in the middle of an item
        self._stopping = False
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
        """On the way out: a lane in the middle of a delivery finishes that one, a lane
        waiting for its turn (pacing, a Retry-After) stops now. Whatever is left stays due
        in the database, so shutdown takes one Slack call, not the whole backlog."""
        self._stopping = True
        for channel, lane in self._lanes.items():
            if channel not in self._delivering:
                lane.cancel()
        if self._lanes:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)

    async def dispatch(self) -> int:
        """Start a lane for every channel that has due work and no lane running."""
        work = await self._due()
        for channel, items in work.items():
            lane = self._lanes.get(channel)
            if lane is None or lane.done():
                self._lanes[channel] = asyncio.create_task(self._lane(channel, items))
        return sum(len(items) for items in work.values())

    async def _due(self, limit: int = 500) -> dict[str, list[Work]]:
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
        work: dict[str, list[Work]] = defaultdict(list)
        for anomaly_id, channel in rows:
            work[channel].append((CARD, anomaly_id))
        if self._desk is not None and self._desk.channel is not None:
            async with self._sessions() as session:
                escalated = (await session.execute(
                    select(Anomaly.id).where(Anomaly.escalated_at.is_not(None)).where(or_(
                        and_(Anomaly.war_room_ts.is_(None),
                             or_(Anomaly.war_room_next_at.is_(None),
                                 Anomaly.war_room_next_at <= now)),
                        and_(Anomaly.war_room_ts.is_not(None),
                             Anomaly.war_room_revision < Anomaly.version)))
                    .order_by(Anomaly.escalated_at).limit(limit)
                )).scalars().all()
            work[self._desk.channel].extend((WAR_ROOM, anomaly_id) for anomaly_id in escalated)
        return work

    async def _lane(self, channel: str, items: list[Work]) -> None:
        for kind, anomaly_id in items:
            await self._pacer.turn(channel)
            if self._stopping:
                return  # shutting down: the rest stays due in the database
            self._delivering.add(channel)
            try:
                if not await self._attempt(channel, kind, anomaly_id) or self._stopping:
                    return  # the rest of this channel waits for the next pass
            except Exception as error:  # the database, not Slack: the item stays due
                log.warning("delivering to %s failed; it stays due: %s", channel,
                            error or type(error).__name__, extra={"anomaly_id": anomaly_id})
                return
            finally:
                self._delivering.discard(channel)

    async def _attempt(self, channel: str, kind: str, anomaly_id: str) -> bool:
        """Deliver one item; False when the channel should pause (429, Slack unreachable)."""
        try:
            await self._deliver(kind, anomaly_id)
            self.healthy = True
        except SlackApiError as error:
            delay = self._retry_delay(error)
            self._pacer.hold(channel, delay)
            await self._defer(kind, anomaly_id, delay)
            return bool(error.response.status_code != 429)
        except (aiohttp.ClientError, TimeoutError) as error:  # not a database OSError
            self.healthy = False
            log.warning("slack unreachable: %s", error)
            await self._defer(kind, anomaly_id, 5.0)
            return False
        return True

    async def _load(self, anomaly_id: str) -> Anomaly | None:
        """Read the row and let the connection go: no session is held across a Slack call."""
        async with self._sessions() as session:
            return await session.get(Anomaly, anomaly_id)

    async def _deliver(self, kind: str, anomaly_id: str) -> None:
        row = await self._load(anomaly_id)
        if row is None:
            return
        if kind == WAR_ROOM:
            if self._desk is not None:
                await self._desk.deliver(row)
        elif row.slack_ts is None:
            await self._post(row)
        elif row.message_revision < row.revision:
            await self._update(row)

    async def _post(self, row: Anomaly) -> None:
        now = self._clock.now()
        attempted_before = row.post_attempted_at
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(Anomaly).where(Anomaly.id == row.id).where(Anomaly.slack_ts.is_(None))
                .where(or_(Anomaly.next_post_at.is_(None), Anomaly.next_post_at <= now))
                .values(next_post_at=now + POST_LEASE, post_attempted_at=now,
                        post_attempts=Anomaly.post_attempts + 1)
                .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return  # another replica holds it
        fresh = await self._load(row.id)
        if fresh is None:
            return
        row = fresh
        if attempted_before is not None:
            channel_id = await self._channels.channel_id(row.channel)
            found = channel_id and await find_posted(
                self._client, channel_id=channel_id, event_type=METADATA_EVENT_TYPE,
                anomaly_id=row.id, since=attempted_before)
            if channel_id and found:
                log.info("reconciled an earlier post", extra={"anomaly_id": row.id})
                await self._record_post(row, channel_id, found, row.revision, row.version,
                                        reconciled=True)
                return
        card = self._card(row)
        response = await self._client.chat_postMessage(
            channel=row.channel, metadata=message_metadata(card), unfurl_links=False,
            unfurl_media=False, **anomaly_message(card))
        self._on_call("chat.postMessage", "ok")
        crash_point("after_post")
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
        card = self._card(row)
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

    async def _defer(self, kind: str, anomaly_id: str, delay: float) -> None:
        """Retry later; for an unposted message this also releases the post lease."""
        later = self._clock.now() + timedelta(seconds=delay)
        statement = (update(Anomaly).where(Anomaly.id == anomaly_id)
                     .where(Anomaly.war_room_ts.is_(None)).values(war_room_next_at=later)
                     if kind == WAR_ROOM else
                     update(Anomaly).where(Anomaly.id == anomaly_id)
                     .where(Anomaly.slack_ts.is_(None)).values(next_post_at=later))
        async with self._sessions.begin() as session:
            await session.execute(statement.execution_options(synchronize_session=False))

    def _card(self, row: Anomaly) -> Card:
        return card_from_row(row, approvals_required=self._rules.approvals_required(
            row.client_namespace))

    def _retry_delay(self, error: SlackApiError) -> float:
        self._on_call(method_of(error.response.api_url), str(error.response.status_code))
        return retry_delay(error)
