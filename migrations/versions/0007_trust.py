"""Trust: justifications with every decision, revoke (who, when, result), the client's
ServiceAccount, and an index to find the other anomalies of one client workload.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatbot.store.models import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as table:
        table.add_column(sa.Column("justifications", sa.JSON(), nullable=False,
                                   server_default="[]"))
        table.add_column(sa.Column("revoked_by", sa.String(64), nullable=True))
        table.add_column(sa.Column("revoked_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("revoke_result", sa.String(500), nullable=True))
        table.add_column(sa.Column("client_service_account", sa.String(253), nullable=True))
    op.create_index("ix_anomalies_client", "anomalies",
                    ["cluster", "client_namespace", "client_name"])


def downgrade() -> None:
    op.drop_index("ix_anomalies_client", "anomalies")
    with op.batch_alter_table("anomalies") as table:
        for column in ("client_service_account", "revoke_result", "revoked_at", "revoked_by",
                       "justifications"):
            table.drop_column(column)
