"""The anomaly row's one owner: every read and every state change of ``anomalies`` outside
ingest goes through the named operations here.

Two counters, two jobs. ``version`` moves with every decision-relevant change and is the
compare-and-set precondition (a double click, two approvers at once or a replayed request
change the row once). ``revision`` moves with anything a person sees on the card — a state
change or just a new sighting — and the outbox re-renders while the message lags behind it.
:func:`compare_and_set` bumps both, so no caller has to remember either.

Like every store function these take the caller's session: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

from sqlalchemy import Table, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from chatbot.card import Card
from chatbot.config.rules import Rules
from chatbot.events.codec import target_from_dict
from chatbot.events.model import Reason, Severity, Workload
from chatbot.lifecycle import State
from chatbot.store.models import Anomaly

ANOMALIES = cast(Table, Anomaly.__table__)
_SEVERITY_ORDER = case({s.value: -s.rank for s in Severity}, value=Anomaly.severity, else_=0)
APPLY_DUE_STATES = (State.APPROVED, State.APPLY_FAILED)


class Changes(TypedDict, total=False):
    """The columns a decision, an escalation or an apply outcome may change."""

    state: State
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    approvals: list[str]
    severity: str
    escalated_at: datetime | None
    escalation_reason: str | None
    escalation_trigger: str | None
    escalated_by: str | None
    next_apply_at: datetime | None
    apply_attempts: int
    apply_error: str | None
    applied_at: datetime | None
    applied_object: str | None
    triaged_at: datetime | None
    auto_rule: str | None
    snoozed_until: datetime | None
    snoozed_by: str | None
    snoozed_rank: int | None
    proposal_id: str | None
    proposal_url: str | None
    proposal_note: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the anomaly's messages are and how far they lag: the outbox's bookkeeping."""

    channel: str
    slack_channel_id: str | None
    slack_ts: str | None
    post_attempted_at: datetime | None
    revision: int
    message_revision: int
    war_room_channel_id: str | None
    war_room_ts: str | None
    war_room_attempted_at: datetime | None
    war_room_version: int
    """The ``version`` the war-room message last showed (column ``war_room_revision``)."""
    incident_channel_id: str | None
    war_room_link: str | None = None
    """The original card's permalink as the war-room message shows it; None: it shows none
    yet; ``""``: not known (posted before migration 0005 for a flow decided since)."""


@dataclass(frozen=True, slots=True)
class Stored:
    card: Card
    delivery: Delivery


async def load(session: AsyncSession, anomaly_id: str, *,
               rules: Rules | None = None) -> Stored | None:
    """The anomaly as people see it plus its message bookkeeping; None when unknown.

    ``rules`` supply the quorum the card shows (one approval when not given)."""
    row = await session.get(Anomaly, anomaly_id, populate_existing=True)
    return None if row is None else _stored(row, rules)


async def load_card(session: AsyncSession, anomaly_id: str, *,
                    rules: Rules | None = None) -> Card | None:
    stored = await load(session, anomaly_id, rules=rules)
    return stored.card if stored else None


async def compare_and_set(session: AsyncSession, anomaly_id: str, *, version: int,
                          changes: Changes) -> bool:
    """Apply ``changes`` if the row is still at ``version``; False when someone was first.

    Bumps ``version`` (the next compare-and-set sees the change) and ``revision`` (the card
    re-renders)."""
    values: dict[str, Any] = {**changes, "version": version + 1,
                              "revision": Anomaly.revision + 1}
    return await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                              .where(Anomaly.version == version).values(**values)) == 1


async def cards(session: AsyncSession, *, ids: Collection[str] | None = None,
                states: Collection[State] | None = None, limit: int | None = None,
                rules: Rules | None = None) -> list[Card]:
    """Cards, most severe first, then in order of appearance (a decided card never moves)."""
    query = select(Anomaly).order_by(_SEVERITY_ORDER, Anomaly.first_seen, Anomaly.id)
    if ids is not None:
        query = query.where(Anomaly.id.in_(list(ids)))
    if states is not None:
        query = query.where(Anomaly.state.in_([State(s).value for s in states]))
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).scalars().all()
    return [_stored(row, rules).card for row in rows]


async def escalation_candidates(session: AsyncSession, *,
                                ids: Collection[str] | None = None) -> list[Card]:
    """Open anomalies and blocked ones retried after the block: what the escalator checks."""
    query = select(Anomaly).where(or_(
        Anomaly.state == State.PENDING,
        (Anomaly.state == State.BLOCKED) & Anomaly.retried_after_block_at.is_not(None)))
    if ids is not None:
        query = query.where(Anomaly.id.in_(list(ids)))
    rows = (await session.execute(query)).scalars().all()
    return [_stored(row, None).card for row in rows]


async def due_applies(session: AsyncSession, *, now: datetime,
                      limit: int) -> list[tuple[str, datetime | None]]:
    """Approved (or failed and due again) anomalies with the lease each was last given."""
    rows = (await session.execute(
        select(Anomaly.id, Anomaly.next_apply_at)
        .where(Anomaly.state.in_(APPLY_DUE_STATES))
        .where(or_(Anomaly.next_apply_at.is_(None), Anomaly.next_apply_at <= now))
        .order_by(Anomaly.decided_at).limit(limit))).all()
    return [(row.id, row.next_apply_at) for row in rows]


async def claim_apply(session: AsyncSession, anomaly_id: str, *, seen_lease: datetime | None,
                      until: datetime) -> bool:
    """Take the anomaly until ``until``; another replica that read the same lease loses."""
    lease = (Anomaly.next_apply_at.is_(None) if seen_lease is None
             else Anomaly.next_apply_at == seen_lease)
    return await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                              .where(Anomaly.state.in_(APPLY_DUE_STATES)).where(lease)
                              .values(next_apply_at=until)) == 1


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Anomaly.state, func.count()).group_by(Anomaly.state))
    return {state: int(count) for state, count in rows}


async def changed_rows(session: AsyncSession, statement: Executable) -> int:
    """Rows an UPDATE changed (the Core result carries the count the ORM result hides)."""
    connection = await session.connection()
    result = await connection.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)


def _stored(row: Anomaly, rules: Rules | None) -> Stored:
    needed = rules.approvals_required(row.client_namespace) if rules else 1
    card = Card(
        anomaly_id=row.id, cluster=row.cluster,
        client=Workload(name=row.client_name, namespace=row.client_namespace,
                        kind=row.client_kind, labels=dict(row.client_labels)),
        target=target_from_dict(row.target), reason=Reason(row.reason),
        severity=Severity(row.severity), state=State(row.state), version=row.version,
        event_count=row.event_count, first_seen=row.first_seen, last_seen=row.last_seen,
        detected_at=row.detected_at,
        decision=row.decision, decided_by=row.decided_by, decided_at=row.decided_at,
        apply_error=row.apply_error, apply_attempts=row.apply_attempts,
        applied_object=row.applied_object, retried_after_block_at=row.retried_after_block_at,
        escalated_at=row.escalated_at, escalation_reason=row.escalation_reason,
        escalation_trigger=row.escalation_trigger, escalated_by=row.escalated_by,
        approvals=tuple(row.approvals or ()),
        approvals_required=needed, snoozed_until=row.snoozed_until,
        snoozed_by=row.snoozed_by, proposal_url=row.proposal_url,
        proposal_note=row.proposal_note, slack_channel_id=row.slack_channel_id,
        slack_ts=row.slack_ts)
    delivery = Delivery(
        channel=row.channel, slack_channel_id=row.slack_channel_id, slack_ts=row.slack_ts,
        post_attempted_at=row.post_attempted_at, revision=row.revision,
        message_revision=row.message_revision, war_room_channel_id=row.war_room_channel_id,
        war_room_ts=row.war_room_ts, war_room_attempted_at=row.war_room_attempted_at,
        war_room_version=row.war_room_revision, incident_channel_id=row.incident_channel_id,
        war_room_link=row.war_room_link)
    return Stored(card=card, delivery=delivery)
