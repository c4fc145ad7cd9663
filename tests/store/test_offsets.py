"""Stored offsets are a compare-and-set: moving from the offset last seen succeeds once;
a member that saw an older one gets OffsetConflict, and the transaction it was part of —
the batch's counts included — is rolled back. On the embedded SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.config.rules import Rules
from chatbot.events.parse import parse_event
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.ingest import ingest
from chatbot.store.migrate import upgrade
from chatbot.store.models import Anomaly
from chatbot.store.offsets import Move, OffsetConflict, events_stored, move, stored_offsets
from tests.events.samples import encoded, kubernetes_event

NOW = datetime(2026, 11, 24, tzinfo=UTC)
RULES = Rules(default_channel="flow-alerts")


@pytest.fixture(params=["sqlite", "postgresql"])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path
                   ) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = (f"sqlite+aiosqlite:///{tmp_path / 'o.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    await upgrade(engine)
    try:
        yield make_sessions(engine)
    finally:
        await engine.dispose()


def step(seen: int | None, to: int, *, partition: int = 0) -> Move:
    return Move(topic="flows", partition=partition, seen=seen, next_offset=to,
                events=to - (seen or 0))


async def test_offsets_move_from_what_was_seen_and_are_read_back(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await move(session, group="g", moves=[step(None, 10), step(None, 4, partition=1)],
                   now=NOW)
    async with sessions.begin() as session:
        await move(session, group="g", moves=[step(10, 25)], now=NOW)
    async with sessions() as session:
        assert await stored_offsets(session, group="g", partitions=[("flows", 0), ("flows", 1),
                                                                    ("flows", 2)]) == {
            ("flows", 0): 25, ("flows", 1): 4}
        assert await stored_offsets(session, group="other", partitions=[("flows", 0)]) == {}
        assert await events_stored(session, group="g") == 29


@pytest.mark.parametrize("stale", [None, 10], ids=["no row seen", "an older offset seen"])
async def test_a_member_that_saw_an_older_offset_stores_nothing(
        sessions: async_sessionmaker[AsyncSession], stale: int | None) -> None:
    async with sessions.begin() as session:
        await move(session, group="g", moves=[step(None, 10)], now=NOW)
        if stale is not None:
            await move(session, group="g", moves=[step(10, 20)], now=NOW)

    async def store_a_batch_having_seen(seen: int | None) -> None:
        async with sessions.begin() as session:
            await move(session, group="g", moves=[step(seen, 30)], now=NOW)
            await ingest(session, [parse_event(encoded(kubernetes_event("late")))],
                         rules=RULES, now=NOW)

    with pytest.raises(OffsetConflict):
        await store_a_batch_having_seen(stale)

    async with sessions() as session:
        assert (await session.execute(select(Anomaly))).scalars().all() == []
        expected = 10 if stale is None else 20
        assert await stored_offsets(session, group="g", partitions=[("flows", 0)]) == {
            ("flows", 0): expected}
