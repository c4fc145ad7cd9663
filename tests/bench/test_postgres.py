"""The bench's PostgreSQL serves the bot's driver stack: SQLAlchemy async over asyncpg can
create a table, write and read it in a fresh per-test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from testbench.postgres import PostgresServer


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_the_server_is_a_real_postgresql(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        version = (await connection.execute(text("SELECT version()"))).scalar_one()
    assert str(version).startswith("PostgreSQL ")


async def test_a_table_round_trip_in_a_fresh_database(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE anomaly (fingerprint text PRIMARY KEY, seen integer NOT NULL)")
        )
        await connection.execute(
            text("INSERT INTO anomaly VALUES (:fingerprint, :seen)"),
            [{"fingerprint": "f-1", "seen": 1}, {"fingerprint": "f-2", "seen": 3}],
        )
    async with engine.connect() as connection:
        rows = (await connection.execute(
            text("SELECT fingerprint, seen FROM anomaly ORDER BY fingerprint")
        )).all()
    assert [tuple(row) for row in rows] == [("f-1", 1), ("f-2", 3)]


async def test_each_test_gets_an_empty_database(
    postgres_server: PostgresServer, engine: AsyncEngine
) -> None:
    async with engine.connect() as connection:
        tables = (await connection.execute(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        )).scalar_one()
    assert tables == 0
    assert postgres_server.env() == {"CHATBOT_DATABASE_URL": postgres_server.url}
