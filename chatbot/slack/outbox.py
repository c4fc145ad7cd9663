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
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card
from chatbot.chaos import crash_point
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.events.model import Workload
from chatbot.lifecycle import OPEN_STATES
from chatbot.slack.blocks import anomaly_message, message_metadata
from chatbot.slack.channels import ChannelDirectory
from chatbot.slack.delivery import find_posted, retry_delay
from chatbot.slack.group_outbox import GroupDesk
from chatbot.slack.ids import METADATA_EVENT_TYPE
from chatbot.slack.pacing import ChannelPacer
from chatbot.slack.war_room import WarRoomDesk
from chatbot.store import anomalies, groups, messages, triage
from chatbot.store.anomalies import Stored
from chatbot.store.audit import record
from chatbot.waiting import nap

log = logging.getLogger(__name__)

CurrentIntents = Callable[[Workload], Awaitable[tuple[str, ...] | None]]
POST_LEASE = timedelta(seconds=30)
COUNTER_UPDATE_EVERY = timedelta(seconds=10)
CARD, WAR_ROOM, GROUP = "card", "war-room", "group"
Work = tuple[str, str]  # (CARD or WAR_ROOM, anomaly id) or (GROUP, group id)


class SlackOutbox:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        clock: Clock,
        rules: Rules | None = None,
        pacer: ChannelPacer | None = None,
        current_intents: CurrentIntents | None = None,
    ) -> None:
        self._sessions = sessions
        self._current_intents = current_intents
        self._client = client
        self._clock = clock
        self._rules = rules or Rules(default_channel="flow-alerts")
        self._pacer = pacer or ChannelPacer()
        self._channels = ChannelDirectory(client)
        self._desk = (WarRoomDesk(sessions=sessions, client=client, rules=self._rules,
                                  clock=clock, channels=self._channels)
                      if self._rules.war_room_channel else None)
        self._groups = GroupDesk(sessions=sessions, client=client, clock=clock,
                                 rules=self._rules, channels=self._channels,
                                 post_lease=POST_LEASE)
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

    async def settle(self) -> None:
        """Wait until every running lane has worked through its items (one-shot passes)."""
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
        await self._end_snoozes(now)
        await self._groups.attach()
        grouping = self._rules.grouping_seconds is not None
        async with self._sessions() as session:
            cards = await messages.due_cards(session, now=now,
                                             counters_due=now - COUNTER_UPDATE_EVERY,
                                             limit=limit,
                                             rule_checked=bool(self._rules.decisions),
                                             grouping=grouping)
            grouped = await groups.due(session, now=now,
                                       counters_due=now - COUNTER_UPDATE_EVERY, limit=limit)
            escalated = (await messages.due_war_room(session, now=now, limit=limit)
                         if self._desk is not None and self._desk.channel is not None else [])
        work: dict[str, list[Work]] = defaultdict(list)
        for anomaly_id, channel in cards:
            work[channel].append((CARD, anomaly_id))
        for group_id, channel in grouped:
            work[channel].append((GROUP, group_id))
        if self._desk is not None and self._desk.channel is not None:
            work[self._desk.channel].extend((WAR_ROOM, anomaly_id) for anomaly_id in escalated)
        return work

    async def _end_snoozes(self, now: datetime) -> None:
        """A snooze that is over brings its card back: cleared here (audited), the card
        re-renders in this same pass with its counters and without the snooze line."""
        async with self._sessions.begin() as session:
            for ended in await triage.end_snoozes(session, now=now):
                record(session, anomaly_id=ended.anomaly_id, actor="system",
                       action="unsnooze", result=ended.why, now=now)

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
            delay = retry_delay(error)
            self._pacer.hold(channel, delay)
            await self._defer(kind, anomaly_id, delay)
            return bool(error.response.status_code != 429)
        except (aiohttp.ClientError, TimeoutError) as error:  # not a database OSError
            self.healthy = False
            log.warning("slack unreachable: %s", error)
            await self._defer(kind, anomaly_id, 5.0)
            return False
        return True

    async def _load(self, anomaly_id: str) -> Stored | None:
        """Read the row and let the connection go: no session is held across a Slack call."""
        async with self._sessions() as session:
            return await anomalies.load(session, anomaly_id, rules=self._rules)

    async def _deliver(self, kind: str, anomaly_id: str) -> None:
        if kind == GROUP:
            await self._groups.deliver(anomaly_id)
            return
        stored = await self._load(anomaly_id)
        if stored is None:
            return
        if kind == WAR_ROOM:
            if self._desk is not None:
                await self._desk.deliver(stored)
        elif stored.delivery.slack_ts is None:
            await self._post(stored)
        elif stored.delivery.message_revision < stored.delivery.revision:
            await self._update(stored)

    async def _post(self, stored: Stored) -> None:
        anomaly_id = stored.card.anomaly_id
        now = self._clock.now()
        attempted_before = stored.delivery.post_attempted_at
        async with self._sessions.begin() as session:
            if not await messages.claim_post(session, anomaly_id, now=now,
                                             until=now + POST_LEASE):
                return  # another replica holds it
        fresh = await self._load(anomaly_id)
        if fresh is None:
            return
        card, delivery = fresh.card, fresh.delivery
        if attempted_before is not None:
            channel_id = await self._channels.channel_id(delivery.channel)
            found = channel_id and await find_posted(
                self._client, channel_id=channel_id, event_type=METADATA_EVENT_TYPE,
                anomaly_id=anomaly_id, since=attempted_before)
            if channel_id and found:
                log.info("reconciled an earlier post", extra={"anomaly_id": anomaly_id})
                await self._record_post(fresh, channel_id, found, reconciled=True)
                return
        response = await self._client.chat_postMessage(
            channel=delivery.channel, metadata=message_metadata(card), unfurl_links=False,
            unfurl_media=False, **self._message(await self._in_context(card)))
        crash_point("after_post")
        self._channels.remember(delivery.channel, str(response["channel"]))
        await self._record_post(fresh, str(response["channel"]), str(response["ts"]),
                                reconciled=False)

    async def _record_post(self, stored: Stored, channel_id: str, ts: str, *,
                           reconciled: bool) -> None:
        now = self._clock.now()
        anomaly_id = stored.card.anomaly_id
        async with self._sessions.begin() as session:
            await messages.record_post(session, anomaly_id, channel_id=channel_id, ts=ts,
                                       revision=stored.delivery.revision,
                                       version=stored.card.version, now=now)
            record(session, anomaly_id=anomaly_id, actor="system", action="post", now=now,
                   result="reconciled" if reconciled else "posted",
                   detail={"channel": channel_id, "ts": ts})

    async def _update(self, stored: Stored) -> None:
        card, delivery = stored.card, stored.delivery
        assert delivery.slack_channel_id and delivery.slack_ts
        await self._client.chat_update(channel=delivery.slack_channel_id, ts=delivery.slack_ts,
                                       **self._message(await self._in_context(card)))
        async with self._sessions.begin() as session:
            await messages.record_update(session, card.anomaly_id,
                                         revision=delivery.revision, version=card.version,
                                         now=self._clock.now())

    async def _in_context(self, card: Card) -> Card:
        """An open card also shows the client's intents as they stand."""
        if self._current_intents is None or card.state not in OPEN_STATES:
            return card
        return replace(card, current_targets=await self._current_intents(card.client))

    async def note_in_thread(self, anomaly_id: str, text: str) -> None:
        """A reply under the anomaly's card; best effort, never blocks a state change."""
        stored = await self._load(anomaly_id)
        if stored is None:
            return
        delivery = stored.delivery
        if not delivery.slack_ts or not delivery.slack_channel_id:
            return
        await self._pacer.turn(delivery.channel)
        try:
            await self._client.chat_postMessage(channel=delivery.slack_channel_id,
                                                thread_ts=delivery.slack_ts, text=text)
        except SlackApiError as error:
            self._pacer.hold(delivery.channel, retry_delay(error))
            log.warning("could not reply in the thread of %s", anomaly_id)

    async def _defer(self, kind: str, anomaly_id: str, delay: float) -> None:
        """Retry later; for an unposted message this also releases the post lease."""
        later = self._clock.now() + timedelta(seconds=delay)
        async with self._sessions.begin() as session:
            if kind == WAR_ROOM:
                await messages.defer_war_room(session, anomaly_id, until=later)
            elif kind == GROUP:
                await groups.defer_post(session, anomaly_id, until=later)
            else:
                await messages.defer_post(session, anomaly_id, until=later)

    def _message(self, card: Card) -> dict[str, Any]:
        return anomaly_message(card, war_room_decides=self._rules.war_room_decides)
