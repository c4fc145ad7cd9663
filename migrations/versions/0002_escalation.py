"""Escalation: detection time, trigger, war-room message, incident channel, approval votes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatbot.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as table:
        table.add_column(sa.Column("detected_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("escalation_trigger", sa.String(32), nullable=True))
        table.add_column(sa.Column("war_room_channel_id", sa.String(32), nullable=True))
        table.add_column(sa.Column("war_room_ts", sa.String(32), nullable=True))
        table.add_column(sa.Column("war_room_attempted_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("war_room_next_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("war_room_revision", sa.Integer(), nullable=False,
                                   server_default="0"))
        table.add_column(sa.Column("incident_channel_id", sa.String(32), nullable=True))
        table.add_column(sa.Column("approvals", sa.JSON(), nullable=False,
                                   server_default="[]"))
    op.create_index("ix_anomalies_detected_at", "anomalies", ["detected_at"])


def downgrade() -> None:
    op.drop_index("ix_anomalies_detected_at", "anomalies")
    with op.batch_alter_table("anomalies") as table:
        for column in ("approvals", "incident_channel_id", "war_room_revision",
                       "war_room_next_at", "war_room_attempted_at", "war_room_ts",
                       "war_room_channel_id", "escalation_trigger", "detected_at"):
            table.drop_column(column)
