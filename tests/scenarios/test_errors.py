"""When deciding fails for a reason nobody chose — the database is gone — the person who
clicked is told so in words, with a reference the operator finds in the log."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator

import pytest

from chatbot.slack.ids import ActionId
from testbench import postgres
from testbench.postgres import PostgresServer
from tests.scenarios.harness import OWNER, Bot, eventually, flow_event

REF = re.compile(r"could not record your decision, try again \(ref ([0-9a-f]{8})\)")


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    server = postgres.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(own_postgres: PostgresServer) -> str:
    """This story stops its own PostgreSQL, so it does not share the session's."""
    return own_postgres.url


async def test_a_click_while_the_database_is_away_gets_a_readable_answer_with_a_ref(
        bot: Bot, kube_namespace: str, own_postgres: PostgresServer,
        caplog: pytest.LogCaptureFixture) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    await asyncio.to_thread(own_postgres.halt)
    try:
        with caplog.at_level(logging.ERROR, logger="handlers.errors"):
            assert await bot.click(anomaly, ActionId.APPROVE, user=OWNER) == 200

            async def told() -> bool:
                return any(REF.search(e.text) for e in bot.slack.ephemerals()
                           if e.user == OWNER)
            await eventually(told, within=60, what="an ephemeral apology with a ref")
    finally:
        await asyncio.to_thread(own_postgres.launch)
    [told_ref] = [match.group(1) for e in bot.slack.ephemerals()
                  if (match := REF.search(e.text))]
    logged = [r for r in caplog.records if getattr(r, "ref", None) == told_ref]
    assert logged and logged[0].exc_info is not None, "the log line carries the same ref"
    assert "asyncpg" not in bot.slack.ephemerals()[-1].text  # nothing internal in chat

    # Once the database is back, the same click decides.
    assert await bot.click(anomaly, ActionId.APPROVE, user=OWNER) == 200
    assert (await bot.state_is(anomaly.id, "applied", within=60)).decided_by == OWNER
