"""Git sink: pull-request batches (proposals) and each anomaly's link to its batch.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatbot.store.models import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(600), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("closes_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(512), nullable=True),
        sa.Column("head_sha", sa.String(64), nullable=True),
        sa.Column("etag", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_proposals"),
    )
    op.create_index("ix_proposals_state", "proposals", ["state"])
    with op.batch_alter_table("anomalies") as table:
        table.add_column(sa.Column("proposal_id", sa.String(64), nullable=True))
        table.add_column(sa.Column("proposal_url", sa.String(512), nullable=True))
        table.add_column(sa.Column("proposal_note", sa.String(300), nullable=True))
    op.create_index("ix_anomalies_proposal_id", "anomalies", ["proposal_id"])


def downgrade() -> None:
    op.drop_index("ix_anomalies_proposal_id", "anomalies")
    with op.batch_alter_table("anomalies") as table:
        for column in ("proposal_note", "proposal_url", "proposal_id"):
            table.drop_column(column)
    op.drop_index("ix_proposals_state", "proposals")
    op.drop_table("proposals")
