"""The Web API methods the stand-in speaks: one function per method, from arguments to the
``ok: true`` answer, raising ``SlackError`` for Slack's documented error codes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from testbench.slack import params as p
from testbench.slack.blocks import block_errors
from testbench.slack.params import Params
from testbench.slack.views import views_open
from testbench.slack.workspace import Ephemeral, JSONObject, Message, SlackError, Workspace

Method = Callable[[Workspace, Params], JSONObject]

MAX_TEXT = 40_000


def auth_test(ws: Workspace, params: Params) -> JSONObject:
    return {"ok": True, "url": f"https://{ws.domain}.slack.com/", "team": "Flow Bench",
            "user": ws.bot.name, "team_id": ws.team_id, "user_id": ws.bot.id,
            "bot_id": ws.bot_id, "is_enterprise_install": False}


def _message_text(params: Params, *, required: bool) -> str | None:
    text = p.text(params, "text")
    if required and not text and not params.get("blocks") and not params.get("attachments"):
        raise SlackError("no_text")
    if text is not None and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    return text


def _posted(ws: Workspace, message: Message) -> JSONObject:
    body = message.to_api(team_id=ws.team_id)
    body["bot_profile"] = {"id": ws.bot_id, "app_id": ws.app_id, "name": ws.bot.real_name,
                           "team_id": ws.team_id, "deleted": False}
    return body


def chat_post_message(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    text = _message_text(params, required=True)
    message = ws.post(channel, text=text or "", blocks=p.blocks(params) or [],
                      metadata=p.metadata(params), thread_ts=p.text(params, "thread_ts"))
    return {"ok": True, "channel": channel.id, "ts": message.ts,
            "message": _posted(ws, message)}


def chat_update(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    message = ws.message(channel, p.text(params, "ts"))
    text = _message_text(params, required=True)
    # Slack keeps what an update leaves out (blocks, metadata) and marks the message edited.
    blocks, metadata = p.blocks(params), p.metadata(params)
    if text is not None:
        message.text = text
    if blocks is not None:
        message.blocks = blocks
    if metadata is not None:
        message.metadata = metadata
    message.edited_ts = ws.next_ts()
    return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text,
            "message": _posted(ws, message)}


def chat_delete(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    ts = p.text(params, "ts")
    ws.delete(channel, ts)
    return {"ok": True, "channel": channel.id, "ts": ts}


def chat_post_ephemeral(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    user = p.text(params, "user")
    if not user:
        raise SlackError("user_not_found")
    text = _message_text(params, required=True) or ""
    ephemeral = Ephemeral(channel.id, user, ws.next_ts(), text, p.blocks(params) or [])
    ws.ephemerals.append(ephemeral)
    return {"ok": True, "message_ts": ephemeral.message_ts}


def chat_get_permalink(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    message = ws.message(channel, p.text(params, "message_ts"))
    return {"ok": True, "channel": channel.id, "permalink": ws.permalink(message)}


def conversations_create(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.add_channel(p.text(params, "name") or "",
                             is_private=p.flag(params, "is_private"))
    return {"ok": True, "channel": channel.to_api()}


def conversations_invite(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    users = p.id_list(params, "users")
    if not users:
        raise SlackError("no_user")
    for user_id in users:
        if user_id == ws.bot.id:
            raise SlackError("cant_invite_self")
        ws.user(user_id)
    present = [u for u in users if u in channel.members]
    if present:
        raise SlackError("already_in_channel", errors=[
            {"user": u, "ok": False, "error": "already_in_channel"} for u in present])
    channel.members.update(users)
    return {"ok": True, "channel": channel.to_api()}


def _ts(value: str | None, default: Decimal) -> Decimal:
    # Decimal, not float: a 16-digit ts does not survive a double exactly.
    try:
        return Decimal(value) if value else default
    except InvalidOperation:
        raise SlackError("invalid_ts_latest") from None


def _cursor_ts(cursor: str) -> Decimal:
    try:
        return Decimal(base64.b64decode(cursor).decode().removeprefix("next_ts:"))
    except (ValueError, InvalidOperation):
        raise SlackError("invalid_cursor") from None


def conversations_history(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    oldest = _ts(p.text(params, "oldest"), Decimal(0))
    latest = _ts(p.text(params, "latest"), Decimal("Infinity"))
    inclusive = p.flag(params, "inclusive")
    cursor = p.text(params, "cursor")
    if cursor:
        latest, inclusive = _cursor_ts(cursor), True
    limit = min(max(p.integer(params, "limit", 100), 1), 999)
    include_metadata = p.flag(params, "include_all_metadata")
    found = [m for m in reversed(ws.messages(channel)) if not m.is_reply and (
        oldest <= Decimal(m.ts) <= latest if inclusive else oldest < Decimal(m.ts) < latest)]
    page, rest = found[:limit], found[limit:]
    next_cursor = base64.b64encode(f"next_ts:{rest[0].ts}".encode()).decode() if rest else ""
    return {"ok": True, "latest": None if latest.is_infinite() else str(latest),
            "messages": [m.to_api(team_id=ws.team_id, include_metadata=include_metadata)
                         for m in page],
            "has_more": bool(rest), "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor}}


def conversations_replies(ws: Workspace, params: Params) -> JSONObject:
    channel = ws.channel(p.text(params, "channel"))
    ts = p.text(params, "ts")
    if not any(m.ts == ts for m in ws.messages(channel)):
        raise SlackError("thread_not_found")
    include_metadata = p.flag(params, "include_all_metadata")
    thread = [m for m in ws.messages(channel) if m.ts == ts or m.thread_ts == ts]
    return {"ok": True, "has_more": False, "response_metadata": {"next_cursor": ""},
            "messages": [m.to_api(team_id=ws.team_id, include_metadata=include_metadata)
                         for m in thread]}


def conversations_list(ws: Workspace, params: Params) -> JSONObject:
    types = set(p.id_list(params, "types")) or {"public_channel"}
    channels = [c.to_api() for c in ws.channels.values()
                if ("private_channel" if c.is_private else "public_channel") in types]
    return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}


def usergroups_users_list(ws: Workspace, params: Params) -> JSONObject:
    usergroup = p.text(params, "usergroup")
    if not usergroup or usergroup not in ws.usergroups:
        raise SlackError("no_such_subteam")
    return {"ok": True, "users": list(ws.usergroups[usergroup])}


def users_info(ws: Workspace, params: Params) -> JSONObject:
    return {"ok": True, "user": ws.user(p.text(params, "user")).to_api()}


MAX_VIEW_BYTES = 250_000
MAX_VIEW_BLOCKS = 100


def views_publish(ws: Workspace, params: Params) -> JSONObject:
    """Replace ``user_id``'s Home tab (the stand-in keeps the last one per user). People who
    click are not registered with the stand-in, so any well-formed user id is taken."""
    user_id = p.text(params, "user_id") or ""
    view = params.get("view")
    if (not re.fullmatch(r"[UW][A-Z0-9]{2,20}", user_id) or not isinstance(view, dict)
            or view.get("type") != "home"):
        raise SlackError("invalid_arguments")
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SlackError("invalid_arguments")
    errors = block_errors(blocks, max_blocks=MAX_VIEW_BLOCKS)
    if errors:
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
    published: JSONObject = {**view, "id": f"V{ws.next_ts().replace('.', '')[-10:]}",
                             "team_id": ws.team_id, "app_id": ws.app_id, "bot_id": ws.bot_id,
                             "hash": ws.next_ts()}
    ws.home_views[user_id] = published
    return {"ok": True, "view": published}


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "conversations.create": conversations_create,
    "conversations.invite": conversations_invite,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.list": conversations_list,
    "usergroups.users.list": usergroups_users_list,
    "users.info": users_info,
    "views.open": views_open,
    "views.publish": views_publish,
}


def response_url(ws: Workspace, params: Params) -> JSONObject:
    """What a POST to an interaction's ``response_url`` does to the message it came from."""
    channel = ws.channel(p.text(params, "channel"))
    ts = p.text(params, "ts")
    if p.flag(params, "delete_original"):
        ws.delete(channel, ts)
        return {"ok": True}
    text = _message_text(params, required=True) or ""
    blocks = p.blocks(params) or []
    if p.flag(params, "replace_original"):
        message = ws.message(channel, ts)
        message.text, message.blocks, message.edited_ts = text, blocks, ws.next_ts()
    elif p.text(params, "response_type") == "in_channel":
        ws.post(channel, text=text, blocks=blocks, metadata=None,
                thread_ts=p.text(params, "thread_ts"))
    else:
        ws.ephemerals.append(Ephemeral(channel.id, None, ws.next_ts(), text, blocks))
    return {"ok": True}
