"""The grouped card's delivery, for the outbox's lanes: post a group's one message, and
re-render it while its members moved past what it shows — the same claim, metadata and
reconcile-from-history steps as a single card, so a crash never posts a group twice.

Flows in a group are rows of this message and are never posted alone
(:func:`chatbot.store.messages.due_cards`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.chaos import crash_point
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.slack.channels import ChannelDirectory
from chatbot.slack.delivery import find_posted
from chatbot.slack.group_blocks import group_message, group_metadata
from chatbot.slack.ids import GROUP_EVENT_TYPE
from chatbot.store import groups
from chatbot.store.audit import record
from chatbot.store.groups import StoredGroup

log = logging.getLogger(__name__)


class GroupDesk:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], client: AsyncWebClient,
                 clock: Clock, rules: Rules, channels: ChannelDirectory,
                 post_lease: timedelta) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._rules = rules
        self._channels = channels
        self._post_lease = post_lease

    async def attach(self) -> None:
        """Put new flows into groups (grouping on): before the pass reads what is due."""
        if self._rules.grouping_seconds is None:
            return
        async with self._sessions.begin() as session:
            await groups.attach_new(session,
                                    window=timedelta(seconds=self._rules.grouping_seconds),
                                    rule_checked=bool(self._rules.decisions))

    async def _load(self, group_id: str) -> StoredGroup | None:
        async with self._sessions() as session:
            return await groups.load(session, group_id, rules=self._rules)

    async def deliver(self, group_id: str) -> None:
        stored = await self._load(group_id)
        if stored is None or not stored.card.rows:
            return
        if stored.slack_ts is None:
            await self._post(stored)
        else:
            await self._update(stored)

    async def _post(self, stored: StoredGroup) -> None:
        group_id = stored.card.group_id
        now = self._clock.now()
        attempted_before = stored.post_attempted_at
        async with self._sessions.begin() as session:
            if not await groups.claim_post(session, group_id, now=now,
                                           until=now + self._post_lease):
                return  # another replica holds it
        fresh = await self._load(group_id)
        if fresh is None:
            return
        if attempted_before is not None:
            channel_id = await self._channels.channel_id(fresh.channel)
            found = channel_id and await find_posted(
                self._client, channel_id=channel_id, event_type=GROUP_EVENT_TYPE,
                anomaly_id=group_id, since=attempted_before)
            if channel_id and found:
                log.info("reconciled an earlier group post", extra={"group_id": group_id})
                # What that message shows is unknown: recorded as showing nothing, so the
                # next pass re-renders it with every member.
                await self._record_post(fresh, channel_id, found, versions=0, revisions=0,
                                        reconciled=True)
                return
        response = await self._client.chat_postMessage(
            channel=fresh.channel, metadata=group_metadata(group_id), unfurl_links=False,
            unfurl_media=False, **group_message(fresh.card,
                                                war_room_decides=self._rules.war_room_decides))
        crash_point("after_post")
        self._channels.remember(fresh.channel, str(response["channel"]))
        await self._record_post(fresh, str(response["channel"]), str(response["ts"]),
                                versions=fresh.versions, revisions=fresh.revisions,
                                reconciled=False)

    async def _record_post(self, stored: StoredGroup, channel_id: str, ts: str, *,
                           versions: int, revisions: int, reconciled: bool) -> None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await groups.record_post(session, stored.card.group_id, channel_id=channel_id,
                                     ts=ts, versions=versions, revisions=revisions, now=now)
            for row in stored.card.rows:  # each flow's audit trail says where it was shown
                record(session, anomaly_id=row.card.anomaly_id, actor="system",
                       action="post", now=now,
                       result="reconciled" if reconciled else "posted",
                       detail={"channel": channel_id, "ts": ts,
                               "group": stored.card.group_id})

    async def _update(self, stored: StoredGroup) -> None:
        assert stored.slack_channel_id and stored.slack_ts
        await self._client.chat_update(
            channel=stored.slack_channel_id, ts=stored.slack_ts,
            **group_message(stored.card, war_room_decides=self._rules.war_room_decides))
        async with self._sessions.begin() as session:
            await groups.record_update(session, stored.card.group_id,
                                       versions=stored.versions, revisions=stored.revisions,
                                       now=self._clock.now())

    async def defer(self, group_id: str, *, until_seconds: float) -> None:
        later = self._clock.now() + timedelta(seconds=until_seconds)
        async with self._sessions.begin() as session:
            await groups.defer_post(session, group_id, until=later)
