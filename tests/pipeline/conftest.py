"""The store every pipeline story writes to: a migrated SQLite file by default, or a fresh
PostgreSQL database from the bench when a test asks for ``store`` with ``"postgresql"``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatbot.store.db import make_engine, make_sessions
from chatbot.store.migrate import upgrade
from tests.pipeline.harness import Store


@pytest.fixture
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    await upgrade(engine)
    try:
        yield Store(engine, make_sessions(engine))
    finally:
        await engine.dispose()
