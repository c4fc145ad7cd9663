"""Migration 0009 adds ``covered_by`` for the state ``covered``; going back, a covered flow
becomes pending again, since the release before it cannot read that state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from chatbot.store.db import make_engine
from chatbot.store.migrate import alembic_config

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)
STATES = {"covered": ("covered", "shop/checkout"), "decided": ("applied", None)}


def migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def anomaly_columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("anomalies")}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_covered_flow_downgrades_to_pending(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite+aiosqlite:///{tmp_path / 'm.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrate, "0009")
            for anomaly_id, (state, covered_by) in STATES.items():
                await connection.execute(text(
                    "INSERT INTO anomalies (id, cluster, client_namespace, client_name, "
                    "client_kind, client_labels, target, reason, severity, state, version, "
                    "event_count, first_seen, last_seen, channel, revision, message_revision, "
                    "message_version, post_attempts, apply_attempts, war_room_revision, "
                    "approvals, covered_by) VALUES (:id, 'c', 'shop', 'checkout', "
                    "'Deployment', '{}', '{}', 'no-intent', 'high', :state, 2, 1, :t, :t, 'x', "
                    "2, 0, 0, 0, 0, 0, '[]', :covered_by)"),
                    {"id": anomaly_id, "state": state, "covered_by": covered_by, "t": T0})
            await connection.run_sync(migrate, "0008", down=True)
            rows = (await connection.execute(text(
                "SELECT id, state FROM anomalies ORDER BY id"))).all()
            assert [tuple(row) for row in rows] == [("covered", "pending"),
                                                    ("decided", "applied")]
            assert "covered_by" not in await connection.run_sync(anomaly_columns)
    finally:
        await engine.dispose()
