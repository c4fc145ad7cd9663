"""The stand-in's in-memory Slack workspace: users, channels, user groups and messages.

Plain state with Slack's own rules (channel-name validation, unique increasing message
timestamps, error codes); the HTTP layer in ``standin.py`` only translates requests into
calls on it, so tests can also set it up and inspect it directly.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from dataclasses import dataclass, field

JSONObject = dict[str, object]

TEAM_ID = "T0BENCH0001"
TEAM_DOMAIN = "flow-bench"
APP_ID = "A0BENCH0001"

_ID_ALPHABET = string.ascii_uppercase + string.digits
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")


class SlackError(Exception):
    """A Web API error answered as ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, code: str, **extra: object) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> JSONObject:
        return {"ok": False, "error": self.code, **self.extra}


def new_id(prefix: str) -> str:
    """An identifier shaped like Slack's (``C0A1B2C3D4E``); random so that an id kept from
    one stand-in is unknown to the next."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


@dataclass
class User:
    id: str
    name: str
    real_name: str
    team_id: str
    is_bot: bool = False

    def to_api(self) -> JSONObject:
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": {"real_name": self.real_name, "display_name": self.name,
                        "team": self.team_id},
        }


@dataclass
class Channel:
    id: str
    name: str
    creator: str
    created: int
    is_private: bool = False
    members: set[str] = field(default_factory=set)

    def to_api(self) -> JSONObject:
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": False,
            "is_general": False,
            "is_member": True,
            "created": self.created,
            "creator": self.creator,
            "num_members": len(self.members),
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }


@dataclass
class Message:
    """A message as it stands now (after any ``chat.update``)."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[JSONObject] = field(default_factory=list)
    metadata: JSONObject | None = None
    thread_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    edited_ts: str | None = None
    reply_count: int = 0
    latest_reply: str | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, *, team_id: str, include_metadata: bool = True) -> JSONObject:
        message: JSONObject = {"type": "message", "user": self.user, "text": self.text,
                               "ts": self.ts, "team": team_id}
        if self.bot_id:
            message |= {"bot_id": self.bot_id, "app_id": self.app_id}
        if self.blocks:
            message["blocks"] = self.blocks
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.reply_count:
            message |= {"reply_count": self.reply_count, "latest_reply": self.latest_reply}
        if self.edited_ts:
            message["edited"] = {"user": self.user, "ts": self.edited_ts}
        if include_metadata and self.metadata is not None:
            message["metadata"] = self.metadata
        return message


@dataclass
class Ephemeral:
    channel: str
    user: str | None
    message_ts: str
    text: str
    blocks: list[JSONObject] = field(default_factory=list)


def validate_channel_name(name: str) -> None:
    """Slack's rules for ``conversations.create``: lowercase letters, digits, ``-``, ``_``."""
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > 80:
        raise SlackError("invalid_name_maxlength")
    if not _CHANNEL_NAME.match(name):
        raise SlackError("invalid_name_specials")
    if not any(ch.isalnum() for ch in name):
        raise SlackError("invalid_name_punctuation")


class Workspace:
    """One team with one bot user (the token's owner) and whatever tests add."""

    def __init__(self, *, team_id: str = TEAM_ID, domain: str = TEAM_DOMAIN) -> None:
        self.team_id = team_id
        self.domain = domain
        self.app_id = APP_ID
        self.bot_id = "B0BENCH0001"
        self.bot = User("U0BENCHBOT1", "flowbot", "Flow Approval Bot", team_id, is_bot=True)
        self.users: dict[str, User] = {self.bot.id: self.bot}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.usergroup_handles: dict[str, str] = {}
        self._messages: dict[str, dict[str, Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: list[JSONObject] = []
        """Modals opened with ``views.open``, as answered (with their ``id``)."""
        self.exchanged_triggers: set[str] = set()
        self.home_views: dict[str, JSONObject] = {}  # user id -> the Home tab published last
        self._last_ts_us = 0

    # -- set-up -------------------------------------------------------------------------

    def add_user(self, name: str, *, user_id: str | None = None,
                 real_name: str | None = None, is_bot: bool = False) -> User:
        user = User(user_id or new_id("U"), name, real_name or name.title(), self.team_id,
                    is_bot=is_bot)
        self.users[user.id] = user
        return user

    def add_channel(self, name: str, *, is_private: bool = False,
                    members: tuple[str, ...] = ()) -> Channel:
        name = name.removeprefix("#")
        validate_channel_name(name)
        if self.find_channel(name) is not None:
            raise SlackError("name_taken")
        channel = Channel(new_id("G" if is_private else "C"), name, self.bot.id,
                          int(time.time()), is_private, {self.bot.id, *members})
        self.channels[channel.id] = channel
        self._messages[channel.id] = {}
        return channel

    def add_usergroup(self, usergroup_id: str, users: list[str],
                      *, handle: str | None = None) -> None:
        self.usergroups[usergroup_id] = list(users)
        self.usergroup_handles[usergroup_id] = handle or usergroup_id.lower()

    # -- lookups ------------------------------------------------------------------------

    def find_channel(self, ref: str) -> Channel | None:
        """By ID, or by name with or without ``#`` (``chat.postMessage`` accepts both)."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def channel(self, ref: str | None) -> Channel:
        found = self.find_channel(ref) if ref else None
        if found is None:
            raise SlackError("channel_not_found")
        return found

    def user(self, user_id: str | None) -> User:
        if not user_id or user_id not in self.users:
            raise SlackError("user_not_found")
        return self.users[user_id]

    def message(self, channel: Channel, ts: str | None) -> Message:
        found = self._messages[channel.id].get(ts or "")
        if found is None:
            raise SlackError("message_not_found")
        return found

    def messages(self, channel: Channel) -> list[Message]:
        """Every message in the channel, thread replies included, oldest first."""
        return list(self._messages[channel.id].values())

    # -- changes ------------------------------------------------------------------------

    def next_ts(self) -> str:
        # Unique across the workspace, hence strictly increasing within every channel.
        now_us = time.time_ns() // 1000
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        seconds, micros = divmod(self._last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def post(self, channel: Channel, *, text: str, blocks: list[JSONObject],
             metadata: JSONObject | None, thread_ts: str | None,
             user: User | None = None) -> Message:
        author = user or self.bot
        parent = self._thread_parent(channel, thread_ts) if thread_ts else None
        message = Message(channel.id, self.next_ts(), author.id, text, blocks, metadata,
                          parent.ts if parent else None)
        if author.id == self.bot.id:
            message.bot_id, message.app_id = self.bot_id, self.app_id
        if parent is not None:
            parent.thread_ts = parent.ts
            parent.reply_count += 1
            parent.latest_reply = message.ts
        self._messages[channel.id][message.ts] = message
        return message

    def _thread_parent(self, channel: Channel, thread_ts: str) -> Message:
        parent = self._messages[channel.id].get(thread_ts)
        if parent is None:
            raise SlackError("thread_not_found")
        # Replying to a reply lands in the same thread, as in Slack.
        if parent.is_reply and parent.thread_ts is not None:
            return self._thread_parent(channel, parent.thread_ts)
        return parent

    def clear_messages(self) -> None:
        for messages in self._messages.values():
            messages.clear()
        self.ephemerals.clear()
        self.views.clear()
        self.home_views.clear()

    def delete(self, channel: Channel, ts: str | None) -> None:
        message = self.message(channel, ts)
        del self._messages[channel.id][message.ts]

    def permalink(self, message: Message) -> str:
        link = f"https://{self.domain}.slack.com/archives/{message.channel}/p" + \
            message.ts.replace(".", "")
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return link
