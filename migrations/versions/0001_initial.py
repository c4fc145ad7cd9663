"""Anomalies, seen event ids and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatbot.store.models import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomalies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("client_namespace", sa.String(63), nullable=False),
        sa.Column("client_name", sa.String(253), nullable=False),
        sa.Column("client_kind", sa.String(63), nullable=False),
        sa.Column("client_labels", sa.JSON(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.Column("channel", sa.String(80), nullable=False),
        sa.Column("slack_channel_id", sa.String(32), nullable=True),
        sa.Column("slack_ts", sa.String(32), nullable=True),
        sa.Column("post_attempted_at", UtcDateTime(), nullable=True),
        sa.Column("post_attempts", sa.Integer(), nullable=False),
        sa.Column("next_post_at", UtcDateTime(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("message_revision", sa.Integer(), nullable=False),
        sa.Column("message_version", sa.Integer(), nullable=False),
        sa.Column("message_updated_at", UtcDateTime(), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("apply_attempts", sa.Integer(), nullable=False),
        sa.Column("next_apply_at", UtcDateTime(), nullable=True),
        sa.Column("apply_error", sa.Text(), nullable=True),
        sa.Column("applied_at", UtcDateTime(), nullable=True),
        sa.Column("applied_object", sa.String(512), nullable=True),
        sa.Column("retried_after_block_at", UtcDateTime(), nullable=True),
        sa.Column("escalated_at", UtcDateTime(), nullable=True),
        sa.Column("escalation_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_anomalies"),
    )
    op.create_index("ix_anomalies_state", "anomalies", ["state"])
    op.create_index("ix_anomalies_outbox", "anomalies", ["slack_ts", "next_post_at"])
    op.create_index("ix_anomalies_stale_message", "anomalies", ["message_revision", "revision"])
    op.create_table(
        "seen_events",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("anomaly_id", sa.String(32), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_seen_events"),
    )
    op.create_index("ix_seen_events_seen_at", "seen_events", ["seen_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("anomaly_id", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_anomaly_id", "audit_log", ["anomaly_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("seen_events")
    op.drop_table("anomalies")
