"""Covered: the ClientIntents written elsewhere (``namespace/name``) that now covers a flow
nobody had decided yet, which the state ``covered`` resolves without a decision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as table:
        # A namespace (63) and a name (253) with the slash between them.
        table.add_column(sa.Column("covered_by", sa.String(317), nullable=True))


def downgrade() -> None:
    # The release before this one has no state ``covered``; to it, such a flow is still
    # undecided (it may post a card for one covered before its card went out).
    op.execute("UPDATE anomalies SET state = 'pending' WHERE state = 'covered'")
    with op.batch_alter_table("anomalies") as table:
        table.drop_column("covered_by")
