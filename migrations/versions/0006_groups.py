"""Grouped cards: one message for a workload's new flows that arrive within the grouping
window (``card_groups``), and each anomaly's group.

A group holds the message bookkeeping a single card keeps on its anomaly row (channel, Slack
ts, the post lease and attempt for reconciliation). What the message last showed is kept as
the sums of its members' ``version`` and ``revision``: a flow joining or any member changing
moves a sum, and the outbox re-renders while the stored sums lag.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatbot.store.models import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_groups",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("client_namespace", sa.String(63), nullable=False),
        sa.Column("client_name", sa.String(253), nullable=False),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("window_end", UtcDateTime(), nullable=False),
        sa.Column("channel", sa.String(80), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("slack_channel_id", sa.String(32), nullable=True),
        sa.Column("slack_ts", sa.String(32), nullable=True),
        sa.Column("post_attempted_at", UtcDateTime(), nullable=True),
        sa.Column("next_post_at", UtcDateTime(), nullable=True),
        sa.Column("message_version", sa.Integer(), nullable=False),
        sa.Column("message_revision", sa.Integer(), nullable=False),
        sa.Column("message_updated_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_card_groups"),
        sa.UniqueConstraint("cluster", "client_namespace", "client_name", "window_start",
                            name="uq_card_groups_cluster"),
    )
    op.create_index("ix_card_groups_window_end", "card_groups", ["window_end"])
    with op.batch_alter_table("anomalies") as table:
        table.add_column(sa.Column("group_id", sa.String(32), nullable=True))
    op.create_index("ix_anomalies_group_id", "anomalies", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_anomalies_group_id", "anomalies")
    with op.batch_alter_table("anomalies") as table:
        table.drop_column("group_id")
    op.drop_index("ix_card_groups_window_end", "card_groups")
    op.drop_table("card_groups")
