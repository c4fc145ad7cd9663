"""Socket Mode, for clusters without an Ingress: the bot dials the Slack stand-in with its
app-level token, clicks arrive as envelopes on the WebSocket, are acknowledged there and
decided by the same listeners as signed HTTP requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.clock import ManualClock
from chatbot.config.rules import Approvers, Rules
from chatbot.config.settings import Secret, SlackSettings
from chatbot.decisions import Decider
from chatbot.errors import ConfigError, TemporaryError
from chatbot.events.parse import parse_event
from chatbot.lifecycle import State
from chatbot.slack.client import bolt_app, group_lookup, web_client
from chatbot.slack.ids import ActionId
from chatbot.slack.socket_mode import SocketModeRunner, start_socket_mode
from chatbot.store.ingest import ingest
from chatbot.store.models import Anomaly
from handlers import actions
from testbench.process import free_port
from testbench.slack import SlackStandin
from testbench.slack.signing import block_actions_payload

OWNER, STRANGER = "U0OWNER", "U0STRANGER"
APP_TOKEN = "xapp-1-A0BENCH0001-1-bench"
RULES = Rules(default_channel="flow-alerts",
              approvers=(Approvers(namespaces=("rps",), users=frozenset({OWNER})),))


async def stored_anomaly(sessions: async_sessionmaker[AsyncSession]) -> str:
    raw = orjson.dumps({
        "schema_version": 1, "event_id": "socket-1", "observed_at": "2026-11-23T10:00:00Z",
        "cluster": "prod", "client": {"name": "web", "namespace": "rps", "kind": "Deployment"},
        "target": {"type": "kubernetes", "name": "game-api", "namespace": "rps", "port": 8080,
                   "protocol": "TCP"}})
    async with sessions.begin() as session:
        result = await ingest(session, [parse_event(raw)], rules=RULES,
                              now=datetime(2026, 11, 23, tzinfo=UTC))
    return result.new_anomalies[0]


async def state_of(sessions: async_sessionmaker[AsyncSession], anomaly_id: str) -> str:
    async with sessions() as session:
        row = await session.get(Anomaly, anomaly_id)
        assert row is not None
        return row.state


async def decided(sessions: async_sessionmaker[AsyncSession], anomaly_id: str,
                  *, within: float = 10.0) -> str:
    """The anomaly's state once it left ``pending`` (listeners ack first, decide after)."""
    deadline = time.monotonic() + within
    while (state := await state_of(sessions, anomaly_id)) == State.PENDING.value:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    return state


def bolt_for(slack: SlackStandin, sessions: async_sessionmaker[AsyncSession]) -> AsyncApp:
    settings = SlackSettings(bot_token=Secret(slack.bot_token),
                             signing_secret=Secret(slack.signing_secret),
                             app_token=Secret(APP_TOKEN), api_url=slack.api_url)
    client = web_client(settings)
    bolt = bolt_app(settings, client)
    actions.register(bolt, decider=Decider(
        sessions=sessions, rules=RULES, clock=ManualClock(),
        directory=ApproverDirectory(lookup=group_lookup(client))))
    return bolt


@pytest.fixture
async def bolt(slack_standin: SlackStandin,
               sqlite_sessions: async_sessionmaker[AsyncSession]) -> AsyncApp:
    return bolt_for(slack_standin, sqlite_sessions)


@pytest.fixture
async def socket_mode(bolt: AsyncApp) -> AsyncIterator[SocketModeRunner]:
    runner = await start_socket_mode(bolt, APP_TOKEN, connect_timeout=10)
    yield runner
    await runner.close()


def click(slack: SlackStandin, *, user: str, action: ActionId,
          anomaly_id: str) -> dict[str, object]:
    return block_actions_payload(user_id=user, action_id=action.value, value=anomaly_id,
                                 channel_id=slack.channel_id("flow-alerts"),
                                 message_ts=f"{time.time():.6f}")


async def test_an_approver_clicks_approve_over_socket_mode(
        slack_standin: SlackStandin, socket_mode: SocketModeRunner,
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored_anomaly(sqlite_sessions)
    assert [call.ok for call in slack_standin.calls("apps.connections.open")] == [True]
    assert await socket_mode.connected()

    ack = await slack_standin.socket_mode.deliver(
        click(slack_standin, user=OWNER, action=ActionId.APPROVE, anomaly_id=anomaly_id))

    assert set(ack) <= {"envelope_id", "payload"}
    assert await decided(sqlite_sessions, anomaly_id) == State.APPROVED.value


async def test_a_stranger_is_refused_over_socket_mode_as_over_http(
        slack_standin: SlackStandin, socket_mode: SocketModeRunner,
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored_anomaly(sqlite_sessions)

    await slack_standin.socket_mode.deliver(
        click(slack_standin, user=STRANGER, action=ActionId.APPROVE, anomaly_id=anomaly_id))

    [refusal] = await slack_standin.wait_for_calls("chat.postEphemeral")
    assert refusal.params["user"] == STRANGER
    assert await state_of(sqlite_sessions, anomaly_id) == State.PENDING.value


async def test_when_slack_recycles_the_connection_the_bot_reconnects(
        slack_standin: SlackStandin, socket_mode: SocketModeRunner,
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored_anomaly(sqlite_sessions)

    await slack_standin.socket_mode.ask_to_reconnect()
    await slack_standin.wait_for_calls("apps.connections.open", 2)
    await slack_standin.socket_mode.deliver(
        click(slack_standin, user=OWNER, action=ActionId.BLOCK, anomaly_id=anomaly_id))

    assert slack_standin.socket_mode.connections == 2
    assert await decided(sqlite_sessions, anomaly_id) == State.BLOCKED.value


async def test_close_disconnects(slack_standin: SlackStandin, bolt: AsyncApp) -> None:
    runner = await start_socket_mode(bolt, APP_TOKEN, connect_timeout=10)
    await runner.close()
    assert not await runner.connected()


async def test_a_bot_token_in_place_of_the_app_token_is_a_configuration_error(
        bolt: AsyncApp) -> None:
    with pytest.raises(ConfigError, match="app-level token"):
        await start_socket_mode(bolt, "xoxb-not-an-app-token")


async def test_a_revoked_app_token_is_a_configuration_error(
        slack_standin: SlackStandin, bolt: AsyncApp) -> None:
    slack_standin.socket_mode.revoked.add(APP_TOKEN)
    with pytest.raises(ConfigError, match="invalid_auth"):
        await start_socket_mode(bolt, APP_TOKEN)
    assert slack_standin.socket_mode.connections == 0


async def test_an_unreachable_slack_is_a_temporary_error(
        slack_standin: SlackStandin, sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    bolt = bolt_for(slack_standin, sqlite_sessions)
    bolt.client.base_url = f"http://127.0.0.1:{free_port()}/api/"
    with pytest.raises(TemporaryError):
        await start_socket_mode(bolt, APP_TOKEN, connect_timeout=5)
