"""Who clicked Escalate, as its own column; the original card's link the war-room message shows.

``escalated_by`` replaces the mention that used to be written into ``escalation_reason``
(``escalated by <@U…>``), so the reason holds words only and Slack markup is made where
messages are rendered; existing click escalations are moved over. ``war_room_link`` is NULL
while the war-room message shows no link to the original card (it was posted first), and the
outbox then adds it. Messages of flows decided before this migration are marked ``''`` (not
known, not chased): a backlog of old escalations must not queue a burst of updates ahead of
new war-room posts; open escalations do get their link.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PREFIX = "escalated by <@"


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as table:
        table.add_column(sa.Column("escalated_by", sa.String(64), nullable=True))
        table.add_column(sa.Column("war_room_link", sa.String(1024), nullable=True))
    anomalies = sa.table("anomalies", sa.column("escalation_reason", sa.String),
                         sa.column("escalated_by", sa.String), sa.column("state", sa.String),
                         sa.column("war_room_ts", sa.String),
                         sa.column("war_room_link", sa.String))
    reason = anomalies.c.escalation_reason
    op.execute(anomalies.update()
               .where(reason.like(f"{_PREFIX}%>"))
               .values(escalated_by=sa.func.substr(reason, len(_PREFIX) + 1,
                                                   sa.func.length(reason) - len(_PREFIX) - 1),
                       escalation_reason=None))
    op.execute(anomalies.update()
               .where(anomalies.c.war_room_ts.is_not(None))
               .where(anomalies.c.state.not_in(["pending", "escalated"]))
               .values(war_room_link=""))


def downgrade() -> None:
    anomalies = sa.table("anomalies", sa.column("escalation_reason", sa.String),
                         sa.column("escalated_by", sa.String))
    op.execute(anomalies.update().where(anomalies.c.escalated_by.is_not(None))
               .values(escalation_reason=sa.literal(_PREFIX) + anomalies.c.escalated_by
                       + sa.literal(">")))
    with op.batch_alter_table("anomalies") as table:
        table.drop_column("war_room_link")
        table.drop_column("escalated_by")
