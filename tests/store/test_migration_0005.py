"""Migration 0005 moves the escalating user out of the reason text: a click escalation
stored as ``escalated by <@U…>`` comes out as ``escalated_by`` with no reason, and back. Only
open escalations are left to gain their war-room link; decided ones are not chased."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from chatbot.store.db import make_engine
from chatbot.store.migrate import alembic_config

T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)
REASONS = {"clicked": "escalated by <@U0APPROVER>",
           "compliance": "namespace pci-x is under compliance rules"}
STATES = {"clicked": "escalated", "compliance": "applied"}


def migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_click_escalations_move_to_escalated_by_and_back(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite+aiosqlite:///{tmp_path / 'm.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrate, "0002")
            for anomaly_id, reason in REASONS.items():
                await connection.execute(text(
                    "INSERT INTO anomalies (id, cluster, client_namespace, client_name, "
                    "client_kind, client_labels, target, reason, severity, state, version, "
                    "event_count, first_seen, last_seen, channel, revision, message_revision, "
                    "message_version, post_attempts, apply_attempts, escalation_reason, "
                    "war_room_revision, war_room_ts, approvals) VALUES (:id, 'c', 'ns', 'web', "
                    "'Deployment', '{}', '{}', 'no-intent', 'high', :state, 2, 1, :t, :t, 'x', "
                    "2, 0, 0, 0, 0, :reason, 0, '1.000100', '[]')"),
                    {"id": anomaly_id, "reason": reason, "t": T0, "state": STATES[anomaly_id]})
            await connection.run_sync(migrate, "0005")
            rows = (await connection.execute(text(
                "SELECT id, escalated_by, escalation_reason, war_room_link FROM anomalies "
                "ORDER BY id"))).all()
            assert [tuple(row) for row in rows] == [
                ("clicked", "U0APPROVER", None, None),
                ("compliance", None, "namespace pci-x is under compliance rules", "")]
            await connection.run_sync(migrate, "0002", down=True)
            back = (await connection.execute(text(
                "SELECT id, escalation_reason FROM anomalies ORDER BY id"))).all()
            assert dict(tuple(row) for row in back) == REASONS
    finally:
        await engine.dispose()
