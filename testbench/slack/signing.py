"""Requests from "Slack" to the bot: interaction and slash-command bodies shaped like the
real ones, signed exactly as Slack signs them (v0 HMAC-SHA256 over ``v0:{ts}:{body}``), so
tests and people can drive the bot's ``/slack/events`` endpoint without Slack."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp

from testbench.slack.workspace import APP_ID, TEAM_DOMAIN, TEAM_ID

FORM = "application/x-www-form-urlencoded"
VERIFICATION_TOKEN = "bench-verification-token"


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` headers for ``body``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def block_actions_payload(
    *,
    user_id: str,
    action_id: str,
    value: str,
    channel_id: str,
    message_ts: str,
    block_id: str = "flow_actions",
    user_name: str | None = None,
    channel_name: str = "flow-alerts",
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
    message: Mapping[str, object] | None = None,
    response_url: str | None = None,
    trigger_id: str | None = None,
) -> dict[str, object]:
    """A ``block_actions`` payload for a button click on message ``message_ts``; pass the
    clicked ``message`` (e.g. the stand-in's ``Message.to_api(...)``) to carry its blocks."""
    name = user_name or user_id.lower()
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False},
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": dict(message) if message is not None else {
            "type": "message", "ts": message_ts, "text": "", "team": team_id, "blocks": []},
        "state": {"values": {}},
        "response_url": response_url or (f"https://hooks.slack.com/actions/{team_id}/"
                                         f"{secrets.randbelow(10**12)}/{secrets.token_hex(12)}"),
        "actions": [{
            "action_id": action_id,
            "block_id": block_id,
            "text": {"type": "plain_text", "text": action_id.replace("_", " ").title(),
                     "emoji": True},
            "value": value,
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }],
    }


def view_submission_payload(
    *,
    user_id: str,
    view: Mapping[str, object],
    values: Mapping[str, Mapping[str, str | None]],
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
    user_name: str | None = None,
) -> dict[str, object]:
    """A ``view_submission`` payload for the modal ``view`` (as ``views.open`` answered it),
    with ``values`` as ``{block_id: {action_id: text}}`` for its plain-text inputs."""
    name = user_name or user_id.lower()
    state = {block_id: {action_id: {"type": "plain_text_input", "value": value}
                        for action_id, value in fields.items()}
             for block_id, fields in values.items()}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": _trigger_id(),
        "view": {**dict(view), "state": {"values": state}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def interaction_body(payload: Mapping[str, object]) -> bytes:
    """``payload=<url-encoded JSON>``, the form body Slack posts for interactions."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def slash_command_body(
    *,
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    user_name: str | None = None,
    channel_name: str = "flow-alerts",
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
    response_url: str | None = None,
    trigger_id: str | None = None,
) -> bytes:
    """The form body Slack posts for a slash command such as ``/flows pending``."""
    return urlencode({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url or (f"https://hooks.slack.com/commands/{team_id}/"
                                         f"{secrets.randbelow(10**12)}/{secrets.token_hex(12)}"),
        "trigger_id": trigger_id or _trigger_id(),
    }).encode()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Signature headers plus the content type, for a body built by this module."""
    content_type = "application/json" if body.startswith(b"{") else FORM
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": content_type, **sign(secret, body, stamp)}


async def post_signed(url: str, body: bytes, secret: str, *,
                      timestamp: int | None = None) -> tuple[int, str]:
    """POST ``body`` to ``url`` signed with ``secret`` (now, unless ``timestamp`` is given)."""
    headers = signed_headers(secret, body, timestamp=timestamp)
    async with aiohttp.ClientSession() as session, \
            session.post(url, data=body, headers=headers) as response:
        return response.status, await response.text()


def event_callback_body(event: Mapping[str, object], *, team_id: str = TEAM_ID,
                        api_app_id: str = APP_ID) -> bytes:
    """The JSON body the Events API posts for ``event`` (e.g. ``app_home_opened``)."""
    return json.dumps({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": {"event_ts": f"{time.time():.6f}", **event},
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "U0BENCHBOT1",
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }, separators=(",", ":")).encode()


def app_home_opened_event(*, user_id: str, tab: str = "home") -> dict[str, object]:
    """An ``app_home_opened`` event: ``user_id`` opened the app's Home (or Messages) tab."""
    return {"type": "app_home_opened", "user": user_id,
            "channel": f"D{secrets.token_hex(5).upper()}", "tab": tab}
