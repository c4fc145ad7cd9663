"""Delivering an escalation: the message in the war room (or a dedicated incident channel
opened for it), kept in step with the anomaly's state.

Works like the card outbox: claimed with a lease, reconciled through message metadata after
a crash, retried later on failure. Opening an incident channel is best effort — a name clash
picks the next free name, a missing scope falls back to the war room.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.slack.channels import ChannelDirectory
from chatbot.slack.delivery import find_posted
from chatbot.slack.ids import ESCALATION_EVENT_TYPE
from chatbot.slack.war_room_blocks import escalation_metadata, incident_pointer, war_room_message
from chatbot.store import messages
from chatbot.store.anomalies import Stored
from chatbot.store.audit import record

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
LINK_RETRY = timedelta(seconds=60)
NAME_ATTEMPTS = 5


def incident_channel_name(card: Card, when: datetime, attempt: int = 0) -> str:
    base = f"inc-{when:%Y%m%d}-{card.short_id}"
    return base if attempt == 0 else f"{base}-{attempt + 1}"


class WarRoomDesk:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], client: AsyncWebClient,
                 rules: Rules, clock: Clock, channels: ChannelDirectory) -> None:
        self._sessions = sessions
        self._client = client
        self._rules = rules
        self._clock = clock
        self._channels = channels

    @property
    def channel(self) -> str | None:
        return self._rules.war_room_channel

    async def deliver(self, stored: Stored) -> None:
        card, delivery = stored.card, stored.delivery
        if delivery.war_room_ts is None:
            await self._post(stored)
            return
        if not delivery.war_room_channel_id:
            return
        behind = delivery.war_room_version < card.version
        # Posted before the original card existed: once it does, the message gains its link.
        unlinked = delivery.war_room_link is None and delivery.slack_ts is not None
        if not (behind or unlinked):
            return
        permalink = delivery.war_room_link or await self._link(stored)
        if not behind and permalink is None:
            async with self._sessions.begin() as session:
                await messages.hold_war_room_link(session, card.anomaly_id,
                                                  until=self._clock.now() + LINK_RETRY)
            return
        await self._client.chat_update(channel=delivery.war_room_channel_id,
                                       ts=delivery.war_room_ts,
                                       **war_room_message(card, permalink=permalink))
        async with self._sessions.begin() as session:
            await messages.record_war_room_update(session, card.anomaly_id,
                                                  version=card.version)
            if permalink and not delivery.war_room_link:
                await messages.record_war_room_link(session, card.anomaly_id, link=permalink)

    async def _post(self, stored: Stored) -> None:
        war_room = self.channel
        if war_room is None:
            return
        card, delivery = stored.card, stored.delivery
        now = self._clock.now()
        async with self._sessions.begin() as session:
            if not await messages.claim_war_room(session, card.anomaly_id, now=now,
                                                 until=now + LEASE):
                return
        incident = delivery.incident_channel_id
        if self._rules.escalation.incident_channel and incident is None:
            incident = await self._open_incident(card, now)
        target = incident or war_room
        channel_id = await self._channels.channel_id(target)
        if delivery.war_room_attempted_at is not None and channel_id:
            found = await find_posted(self._client, channel_id=channel_id,
                                      event_type=ESCALATION_EVENT_TYPE,
                                      anomaly_id=card.anomaly_id,
                                      since=delivery.war_room_attempted_at)
            if found:
                await self._posted(card, channel_id, found, reconciled=True)
                return
        permalink = await self._link(stored)
        response = await self._client.chat_postMessage(
            channel=target, metadata=escalation_metadata(card), unfurl_links=False,
            **war_room_message(card, permalink=permalink))
        await self._posted(card, str(response["channel"]), str(response["ts"]),
                           reconciled=False, link=permalink)
        if incident:
            await self._point(war_room, card, incident)

    async def _posted(self, card: Card, channel_id: str, ts: str, *, reconciled: bool,
                      link: str | None = None) -> None:
        """``link``: the original card's permalink the message shows (None: unknown, or the
        card was not posted yet — :meth:`deliver` adds it later)."""
        async with self._sessions.begin() as session:
            await messages.record_war_room_post(session, card.anomaly_id, channel_id=channel_id,
                                                ts=ts, version=card.version)
            if link:
                await messages.record_war_room_link(session, card.anomaly_id, link=link)
            record(session, anomaly_id=card.anomaly_id, actor="system", action="war_room_post",
                   result="posted", now=self._clock.now(),
                   detail={"channel": channel_id, "ts": ts, "reconciled": reconciled})

    async def _link(self, stored: Stored) -> str | None:
        delivery = stored.delivery
        if not delivery.slack_channel_id or not delivery.slack_ts:
            return None
        try:
            response = await self._client.chat_getPermalink(channel=delivery.slack_channel_id,
                                                            message_ts=delivery.slack_ts)
        except SlackApiError:
            return None
        permalink = response.get("permalink")
        return str(permalink) if permalink else None

    async def _open_incident(self, card: Card, now: datetime) -> str | None:
        for attempt in range(NAME_ATTEMPTS):
            name = incident_channel_name(card, now, attempt)
            try:
                created = await self._client.conversations_create(name=name)
            except SlackApiError as error:
                reason = error.response.get("error")
                if reason == "name_taken":
                    continue
                log.warning("cannot open an incident channel (%s); using the war room", reason,
                            extra={"anomaly_id": card.anomaly_id})
                return None
            channel_id = str(created["channel"]["id"])
            self._channels.remember(name, channel_id)
            async with self._sessions.begin() as session:
                await messages.record_incident_channel(session, card.anomaly_id,
                                                       channel_id=channel_id)
            await self._invite(channel_id, card.anomaly_id)
            return channel_id
        log.warning("every incident channel name was taken; using the war room",
                    extra={"anomaly_id": card.anomaly_id})
        return None

    async def _invite(self, channel_id: str, anomaly_id: str) -> None:
        responders = self._rules.escalation.responders
        users = set(responders.users)
        for group in responders.groups:
            try:
                members = await self._client.usergroups_users_list(usergroup=group)
                listed: list[str] = members.get("users", [])
                users.update(listed)
            except SlackApiError as error:
                log.warning("cannot list group %s: %s", group, error.response.get("error"))
        if not users:
            return
        try:
            await self._client.conversations_invite(channel=channel_id, users=sorted(users))
        except SlackApiError as error:
            if error.response.get("error") != "already_in_channel":
                log.warning("cannot invite responders: %s", error.response.get("error"),
                            extra={"anomaly_id": anomaly_id})

    async def _point(self, war_room: str, card: Card, incident_id: str) -> None:
        try:
            await self._client.chat_postMessage(channel=war_room,
                                                text=incident_pointer(card, incident_id))
        except SlackApiError as error:
            log.warning("cannot point the war room at the incident channel: %s",
                        error.response.get("error"))
