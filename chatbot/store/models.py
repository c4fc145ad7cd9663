"""Tables. The schema changes only through Alembic migrations in migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores no zone and returns naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
    }


class Anomaly(Base):
    """One distinct flow (by fingerprint) and everything the service knows about it."""

    __tablename__ = "anomalies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the flow fingerprint
    cluster: Mapped[str] = mapped_column(String(253))
    client_namespace: Mapped[str] = mapped_column(String(63))
    client_name: Mapped[str] = mapped_column(String(253))
    client_kind: Mapped[str] = mapped_column(String(63))
    client_labels: Mapped[dict[str, Any]]
    target: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))

    state: Mapped[str] = mapped_column(String(16), default="pending")
    version: Mapped[int] = mapped_column(Integer, default=1)
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]

    channel: Mapped[str] = mapped_column(String(80))
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    post_attempted_at: Mapped[datetime | None]
    post_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_post_at: Mapped[datetime | None]
    # `version` changes with the state (decisions compare-and-set on it); `revision` with
    # anything shown in the message. The outbox re-renders while message_revision lags.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    message_revision: Mapped[int] = mapped_column(Integer, default=0)
    message_version: Mapped[int] = mapped_column(Integer, default=0)
    message_updated_at: Mapped[datetime | None]

    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    apply_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_apply_at: Mapped[datetime | None]
    apply_error: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None]
    applied_object: Mapped[str | None] = mapped_column(String(512))

    retried_after_block_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    escalation_reason: Mapped[str | None] = mapped_column(String(200))

    # Escalation (migration 0002): when the service first stored the flow, which trigger
    # escalated it, the war-room (or incident-channel) message and the votes so far.
    detected_at: Mapped[datetime | None]
    escalation_trigger: Mapped[str | None] = mapped_column(String(32))
    war_room_channel_id: Mapped[str | None] = mapped_column(String(32))
    war_room_ts: Mapped[str | None] = mapped_column(String(32))
    war_room_attempted_at: Mapped[datetime | None]
    war_room_next_at: Mapped[datetime | None]
    war_room_revision: Mapped[int] = mapped_column(Integer, default=0)
    incident_channel_id: Mapped[str | None] = mapped_column(String(32))
    approvals: Mapped[list[str]] = mapped_column(JSON, default=list)

    # Triage (migration 0003): when the decision rules were checked (the outbox posts no
    # card before, so a flow a rule decides never gets one), the deciding rule, the daily
    # digest that reported it, and a snooze (until when, by whom, at which severity rank).
    triaged_at: Mapped[datetime | None]
    auto_rule: Mapped[str | None] = mapped_column(String(100))
    digest_key: Mapped[str | None] = mapped_column(String(32))
    digested_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    snoozed_by: Mapped[str | None] = mapped_column(String(64))
    snoozed_rank: Mapped[int | None] = mapped_column(Integer)
    # Git sink (migration 0004): the batch (pull request) carrying the approval, its link,
    # and what the card says when a closed pull request put the flow back to a decision.
    proposal_id: Mapped[str | None] = mapped_column(String(64))
    proposal_url: Mapped[str | None] = mapped_column(String(512))
    proposal_note: Mapped[str | None] = mapped_column(String(300))
    # Migration 0005: who clicked Escalate (the reason keeps words only), and the original
    # card's link as the war-room message shows it (NULL: that message shows none yet; '':
    # not known, for flows decided before the migration).
    escalated_by: Mapped[str | None] = mapped_column(String(64))
    war_room_link: Mapped[str | None] = mapped_column(String(1024))
    # Migration 0006: the grouped card this flow is a row of (None: its own card, or not
    # grouped yet while grouping is on — the outbox then posts nothing for it alone).
    group_id: Mapped[str | None] = mapped_column(String(32))
    # Trust (migration 0007): each decision's, vote's and revoke's justification
    # ({"by", "action", "text"}), who revoked the applied access, when, with what result, and
    # the client's ServiceAccount when the sensor reports it.
    justifications: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoke_result: Mapped[str | None] = mapped_column(String(500))
    client_service_account: Mapped[str | None] = mapped_column(String(253))
    # Migration 0009: the ClientIntents (``namespace/name``) written elsewhere that now covers
    # the flow (state ``covered``).
    covered_by: Mapped[str | None] = mapped_column(String(317))

    __table_args__ = (
        Index("ix_anomalies_state", "state"),
        Index("ix_anomalies_outbox", "slack_ts", "next_post_at"),
        Index("ix_anomalies_stale_message", "message_revision", "revision"),
        Index("ix_anomalies_detected_at", "detected_at"),
        Index("ix_anomalies_triaged_at", "triaged_at"),
        Index("ix_anomalies_auto_rule", "auto_rule", "digested_at"),
        Index("ix_anomalies_proposal_id", "proposal_id"),
        Index("ix_anomalies_group_id", "group_id"),
        Index("ix_anomalies_client", "cluster", "client_namespace", "client_name"),
    )


class CardGroup(Base):
    """One message for the new flows of one client workload that arrived inside a window.

    ``message_version`` / ``message_revision``: the sums of the members' ``version`` and
    ``revision`` the message last showed; a join or any member's change moves the live sums
    past them, and the outbox re-renders."""

    __tablename__ = "card_groups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(253))
    client_namespace: Mapped[str] = mapped_column(String(63))
    client_name: Mapped[str] = mapped_column(String(253))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer, default=0)
    slack_channel_id: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    post_attempted_at: Mapped[datetime | None]
    next_post_at: Mapped[datetime | None]
    message_version: Mapped[int] = mapped_column(Integer, default=0)
    message_revision: Mapped[int] = mapped_column(Integer, default=0)
    message_updated_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("cluster", "client_namespace", "client_name", "window_start"),
        Index("ix_card_groups_window_end", "window_end"),
    )


class Proposal(Base):
    """One batch of approvals for one repository folder: a bot branch and its pull request.

    ``state``: ``collecting`` (the window is open, or the pull request is not open yet),
    ``open``, ``merged`` or ``closed`` (closed without merging)."""

    __tablename__ = "proposals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    destination: Mapped[str] = mapped_column(String(600))
    branch: Mapped[str] = mapped_column(String(255))
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="collecting")
    number: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(String(512))
    head_sha: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_proposals_state", "state"),)


class ConsumerOffset(Base):
    """How far one consumer group got in one partition, written in the same transaction as
    the results of the records it covers (migration 0008): a redelivered record is one
    below ``next_offset``. ``events_stored`` counts the valid events stored from it."""

    __tablename__ = "consumer_offsets"

    consumer_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    kafka_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    events_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only: who did what to which anomaly, when, with what result."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    anomaly_id: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]]
