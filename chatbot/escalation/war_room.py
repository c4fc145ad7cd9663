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
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card, card_from_row
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.slack.channels import ChannelDirectory
from chatbot.slack.delivery import find_posted
from chatbot.slack.ids import ESCALATION_EVENT_TYPE
from chatbot.slack.war_room_blocks import escalation_metadata, incident_pointer, war_room_message
from chatbot.store.audit import record
from chatbot.store.models import Anomaly

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
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

    def card(self, row: Anomaly) -> Card:
        return card_from_row(row, approvals_required=self._rules.approvals_required(
            row.client_namespace))

    async def deliver(self, row: Anomaly) -> None:
        if row.war_room_ts is None:
            await self._post(row)
        elif row.war_room_channel_id and row.war_room_revision < row.version:
            await self._client.chat_update(channel=row.war_room_channel_id, ts=row.war_room_ts,
                                           **war_room_message(self.card(row),
                                                              permalink=await self._link(row)))
            await self._record(row.id, war_room_revision=row.version)

    async def _post(self, row: Anomaly) -> None:
        war_room = self.channel
        if war_room is None:
            return
        now = self._clock.now()
        attempted_before = row.war_room_attempted_at
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(Anomaly).where(Anomaly.id == row.id).where(Anomaly.war_room_ts.is_(None))
                .where(or_(Anomaly.war_room_next_at.is_(None), Anomaly.war_room_next_at <= now))
                .values(war_room_next_at=now + LEASE, war_room_attempted_at=now)
                .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return
        card = self.card(row)
        incident = row.incident_channel_id
        if self._rules.escalation.incident_channel and incident is None:
            incident = await self._open_incident(row, card, now)
        target = incident or war_room
        channel_id = await self._channels.channel_id(target)
        if attempted_before is not None and channel_id:
            found = await find_posted(self._client, channel_id=channel_id,
                                      event_type=ESCALATION_EVENT_TYPE, anomaly_id=row.id,
                                      since=attempted_before)
            if found:
                await self._posted(row, channel_id, found, reconciled=True)
                return
        response = await self._client.chat_postMessage(
            channel=target, metadata=escalation_metadata(card), unfurl_links=False,
            **war_room_message(card, permalink=await self._link(row)))
        await self._posted(row, str(response["channel"]), str(response["ts"]), reconciled=False)
        if incident:
            await self._point(war_room, card, incident)

    async def _posted(self, row: Anomaly, channel_id: str, ts: str, *, reconciled: bool) -> None:
        await self._record(row.id, war_room_channel_id=channel_id, war_room_ts=ts,
                           war_room_next_at=None, war_room_revision=row.version,
                           audit={"channel": channel_id, "ts": ts, "reconciled": reconciled})

    async def _record(self, anomaly_id: str, *, audit: dict[str, object] | None = None,
                      **values: object) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(Anomaly).where(Anomaly.id == anomaly_id).values(**values)
                                  .execution_options(synchronize_session=False))
            if audit is not None:
                record(session, anomaly_id=anomaly_id, actor="system", action="war_room_post",
                       result="posted", now=self._clock.now(), detail=audit)

    async def _link(self, row: Anomaly) -> str | None:
        if not row.slack_channel_id or not row.slack_ts:
            return None
        try:
            response = await self._client.chat_getPermalink(channel=row.slack_channel_id,
                                                            message_ts=row.slack_ts)
        except SlackApiError:
            return None
        permalink = response.get("permalink")
        return str(permalink) if permalink else None

    async def _open_incident(self, row: Anomaly, card: Card, now: datetime) -> str | None:
        for attempt in range(NAME_ATTEMPTS):
            name = incident_channel_name(card, now, attempt)
            try:
                created = await self._client.conversations_create(name=name)
            except SlackApiError as error:
                reason = error.response.get("error")
                if reason == "name_taken":
                    continue
                log.warning("cannot open an incident channel (%s); using the war room", reason,
                            extra={"anomaly_id": row.id})
                return None
            channel_id = str(created["channel"]["id"])
            self._channels.remember(name, channel_id)
            await self._record(row.id, incident_channel_id=channel_id)
            await self._invite(channel_id, row.id)
            return channel_id
        log.warning("every incident channel name was taken; using the war room",
                    extra={"anomaly_id": row.id})
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
