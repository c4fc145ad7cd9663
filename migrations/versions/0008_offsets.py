"""Consumed offsets in the database instead of a row per event: ``consumer_offsets`` holds,
per consumer group and partition, the next offset to read, written in the same transaction
as the results; ``seen_events`` (and its ``seen_at`` index) is dropped.

A database upgraded from 0002 has no offsets yet: each partition then starts where the group
last committed in Kafka, which the old scheme did only after storing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatbot.store.models import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("events_stored", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer_group", "topic", "kafka_partition",
                                name="pk_consumer_offsets"),
    )
    op.drop_index("ix_seen_events_seen_at", "seen_events")
    op.drop_table("seen_events")


def downgrade() -> None:
    op.create_table(
        "seen_events",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("anomaly_id", sa.String(32), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_seen_events"),
    )
    op.create_index("ix_seen_events_seen_at", "seen_events", ["seen_at"])
    op.drop_table("consumer_offsets")
