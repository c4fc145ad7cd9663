"""Triage: decision-rule outcome (which rule, when checked), the daily digest, snooze.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatbot.store.models import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = ("triaged_at", "auto_rule", "digest_key", "digested_at", "snoozed_until",
            "snoozed_by", "snoozed_rank")


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as table:
        table.add_column(sa.Column("triaged_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("auto_rule", sa.String(100), nullable=True))
        table.add_column(sa.Column("digest_key", sa.String(32), nullable=True))
        table.add_column(sa.Column("digested_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("snoozed_until", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("snoozed_by", sa.String(64), nullable=True))
        table.add_column(sa.Column("snoozed_rank", sa.Integer(), nullable=True))
    # Flows stored before decision rules existed were all meant for a person: their cards
    # must not wait for a rule check that will never be asked of them.
    op.execute("UPDATE anomalies SET triaged_at = COALESCE(detected_at, first_seen)")
    op.create_index("ix_anomalies_triaged_at", "anomalies", ["triaged_at"])
    op.create_index("ix_anomalies_auto_rule", "anomalies", ["auto_rule", "digested_at"])


def downgrade() -> None:
    op.drop_index("ix_anomalies_auto_rule", "anomalies")
    op.drop_index("ix_anomalies_triaged_at", "anomalies")
    with op.batch_alter_table("anomalies") as table:
        for column in reversed(_COLUMNS):
            table.drop_column(column)
