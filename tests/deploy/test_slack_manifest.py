"""The Slack app manifests: they parse, they ask for every scope the code's Web API calls need
and for no other, and the HTTP and Socket Mode variants differ only where they must."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from tests.deploy.chart import REPO

HTTP_MANIFEST = REPO / "deploy" / "slack-app-manifest.yaml"
SOCKET_MANIFEST = REPO / "deploy" / "slack-app-manifest.socket-mode.yaml"
SOURCES = (REPO / "chatbot", REPO / "handlers")

# Bot-token scopes per Web API method (docs.slack.dev/reference/methods). The bot routes to,
# lists and reads public and private channels alike, so those methods need both families; it
# creates public incident channels only (PRIVATE_CHANNEL_SCOPES once it passes is_private).
# A call the code starts making that is missing here fails the test until someone reads its
# docs.
SCOPES_BY_METHOD: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "apps.connections.open": frozenset(),  # app-level token (connections:write), not a bot scope
    "chat.getPermalink": frozenset(),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "conversations.list": frozenset({"channels:read", "groups:read"}),
    "conversations.history": frozenset({"channels:history", "groups:history"}),
    "conversations.replies": frozenset({"channels:history", "groups:history"}),
    "conversations.create": frozenset({"channels:manage"}),
    "conversations.invite": frozenset({"channels:manage"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "users.info": frozenset({"users:read"}),
    "views.open": frozenset(),  # the justification modal: a trigger id, no scope
    "views.publish": frozenset(),  # the App Home tab
}
# Made by the libraries rather than by a call in our source: bolt's auth.test at start-up,
# the Socket Mode client's apps.connections.open.
LIBRARY_CALLS = frozenset({"auth.test", "apps.connections.open"})
# Creating (and so inviting into) a private channel needs groups:write.
PRIVATE_CHANNEL_SCOPES = frozenset({"groups:write"})
# Scopes only one opt-in feature needs: not in the manifest, which says when to add them.
OPT_IN_SCOPES = {"channels:manage": "incident_channel: create"}

_API_METHODS = frozenset(
    name for name in dir(AsyncWebClient)
    if not name.startswith("_") and "_" in name and name.split("_", 1)[0] in {
        "admin", "api", "apps", "auth", "bookmarks", "bots", "calls", "chat", "conversations",
        "dialog", "dnd", "emoji", "files", "functions", "pins", "reactions", "reminders",
        "rtm", "search", "stars", "team", "usergroups", "users", "views", "workflows"})
_CALL = re.compile(r"\.([a-z]+_[A-Za-z_]+)\(")
_API_CALL = re.compile(r"""api_call\(\s*["']([\w.]+)["']""")
_PRIVATE_CREATE = re.compile(r"conversations_create\([^)]*is_private\s*=\s*True")


def sources() -> list[str]:
    return [path.read_text() for root in SOURCES for path in sorted(root.rglob("*.py"))]


def called_methods() -> set[str]:
    """Slack Web API methods called anywhere in chatbot/ and handlers/ (slack_sdk's
    ``client.chat_postMessage(...)`` spelling, or ``api_call("chat.postMessage")``)."""
    methods: set[str] = set()
    for text in sources():
        methods |= {name.replace("_", ".") for name in _CALL.findall(text)
                    if name in _API_METHODS}
        methods |= set(_API_CALL.findall(text))
    return methods


_COMMAND = re.compile(r"""^COMMAND\s*=\s*["'](/[\w-]+)["']""", re.MULTILINE)


def slash_commands() -> set[str]:
    """Slash commands the handlers register (``COMMAND = "/flows"`` next to ``app.command``)."""
    return {name for text in sources() if ".command(" in text
            for name in _COMMAND.findall(text)}


def needed_scopes() -> set[str]:
    needed = {scope for method in called_methods() | LIBRARY_CALLS
              for scope in SCOPES_BY_METHOD.get(method, ())}
    if slash_commands():
        needed.add("commands")  # a slash command needs the commands scope, not a method
    if any(_PRIVATE_CREATE.search(text) for text in sources()):
        needed |= PRIVATE_CHANNEL_SCOPES
    return needed


def manifest(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def bot_scopes(path: Path) -> list[str]:
    scopes: list[str] = manifest(path)["oauth_config"]["scopes"]["bot"]
    return scopes


def test_the_scan_finds_the_calls_we_know_about() -> None:
    assert {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink",
            "conversations.list", "conversations.history", "conversations.create",
            "conversations.invite", "usergroups.users.list"} <= called_methods()


def test_every_called_method_has_a_known_scope() -> None:
    unknown = called_methods() - SCOPES_BY_METHOD.keys()
    assert not unknown, f"add the bot scopes of {sorted(unknown)} to SCOPES_BY_METHOD"


@pytest.mark.parametrize("path", [HTTP_MANIFEST, SOCKET_MANIFEST], ids=["http", "socket-mode"])
def test_the_manifest_asks_for_exactly_the_scopes_the_code_needs(path: Path) -> None:
    scopes = bot_scopes(path)
    assert len(scopes) == len(set(scopes)), "a scope is listed twice"
    always = needed_scopes() - OPT_IN_SCOPES.keys()
    missing = always - set(scopes)
    assert not missing, f"{path.name} lacks {sorted(missing)}"
    unused = set(scopes) - always
    assert not unused, f"{path.name} asks for scopes no call needs by default: {sorted(unused)}"


@pytest.mark.parametrize("path", [HTTP_MANIFEST, SOCKET_MANIFEST], ids=["http", "socket-mode"])
def test_the_manifest_says_when_to_add_each_opt_in_scope(path: Path) -> None:
    text = path.read_text()
    for scope, feature in OPT_IN_SCOPES.items():
        assert scope in needed_scopes(), f"{scope} is no longer needed by any call"
        assert re.search(rf"{feature}, add under oauth_config.scopes.bot:\n#\s+{scope}", text)


def test_http_mode_sends_clicks_to_slack_events() -> None:
    settings = manifest(HTTP_MANIFEST)["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"]["is_enabled"] is True
    assert re.fullmatch(r"https://[^/]+/slack/events", settings["interactivity"]["request_url"])


def test_socket_mode_has_no_request_urls() -> None:
    settings = manifest(SOCKET_MANIFEST)["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True}
    assert "request_url" not in SOCKET_MANIFEST.read_text().split("_metadata:", 1)[1]


def test_the_variants_differ_only_in_how_slack_reaches_the_bot() -> None:
    http, socket = manifest(HTTP_MANIFEST), manifest(SOCKET_MANIFEST)
    del http["settings"], socket["settings"]
    for command in http["features"].get("slash_commands", []):
        del command["url"]  # HTTP mode names where Slack sends the command
    assert http == socket


_EVENT = re.compile(r"""^EVENT\s*=\s*["']([\w.]+)["']""", re.MULTILINE)


def listened_events() -> set[str]:
    """Events the handlers listen to (``EVENT = "app_home_opened"`` next to ``app.event``)."""
    return {name for text in sources() if ".event(" in text for name in _EVENT.findall(text)}


def test_every_event_listener_names_its_event_where_the_scan_finds_it() -> None:
    listeners = sum(len(re.findall(r"\.(?:event|message)\(", text)) for text in sources())
    assert listeners == len(listened_events()) == 1


@pytest.mark.parametrize("path", [HTTP_MANIFEST, SOCKET_MANIFEST], ids=["http", "socket-mode"])
def test_the_manifest_subscribes_to_exactly_the_events_the_code_listens_to(path: Path) -> None:
    subscriptions = manifest(path)["settings"].get("event_subscriptions", {})
    assert set(subscriptions.get("bot_events", [])) == listened_events() == {"app_home_opened"}
    assert ("request_url" in subscriptions) == (path == HTTP_MANIFEST)
    assert manifest(path)["features"]["app_home"]["home_tab_enabled"] is True


@pytest.mark.parametrize("path", [HTTP_MANIFEST, SOCKET_MANIFEST], ids=["http", "socket-mode"])
def test_the_manifest_declares_exactly_the_slash_commands_the_code_handles(path: Path) -> None:
    declared = manifest(path)["features"].get("slash_commands", [])
    assert {command["command"] for command in declared} == slash_commands() == {"/flows"}
    for command in declared:
        assert ("url" in command) == (path == HTTP_MANIFEST)


def test_the_variants_differ_only_in_how_slack_reaches_the_commands() -> None:
    http, socket = manifest(HTTP_MANIFEST), manifest(SOCKET_MANIFEST)
    for command in http["features"]["slash_commands"]:
        assert re.fullmatch(r"https://[^/]+/slack/events", command.pop("url"))
    assert http["features"] == socket["features"]


def test_display_information_fits_slacks_limits() -> None:
    info = manifest(HTTP_MANIFEST)["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    assert len(manifest(HTTP_MANIFEST)["features"]["bot_user"]["display_name"]) <= 80
