"""Shared fixtures: every bench component is a pytest plugin under testbench/fixtures/."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.store.db import make_engine, make_sessions
from chatbot.store.migrate import upgrade

pytest_plugins = [
    "testbench.fixtures.cyclonus",
    "testbench.fixtures.gitea",
    "testbench.fixtures.github",
    "testbench.fixtures.helm",
    "testbench.fixtures.hubble",
    "testbench.fixtures.kafka",
    "testbench.fixtures.kube",
    "testbench.fixtures.postgres",
    "testbench.fixtures.redis",
    "testbench.fixtures.slack",
]




@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}")
    await upgrade(engine)
    yield make_sessions(engine)
    await engine.dispose()
