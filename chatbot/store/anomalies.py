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
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict, cast

from sqlalchemy import Table, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from chatbot.card import Card, Justification, related_cards
from chatbot.config.risk import Enforcement
from chatbot.config.rules import Rules
from chatbot.events.codec import target_from_dict
from chatbot.events.model import Reason, Severity, Workload
from chatbot.lifecycle import COVERABLE_STATES, OPEN_STATES, State
from chatbot.risk import BENIGN, assess
from chatbot.store.models import Anomaly

ANOMALIES = cast(Table, Anomaly.__table__)
_SEVERITY_ORDER = case({s.value: -s.rank for s in Severity}, value=Anomaly.severity, else_=0)
# Work the applier does from stored state: write an approval, retry a failed write, or take
# a revoked approval's target out again.
APPLY_DUE_STATES = (State.APPROVED, State.APPLY_FAILED, State.REVOKING)


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
    justifications: list[dict[str, str]]
    revoked_by: str | None
    revoked_at: datetime | None
    revoke_result: str | None
    covered_by: str | None


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

    ``rules`` supply the risk and the quorum the card shows (a benign flow needing one
    approval when not given). The card also names the client's other open anomalies."""
    row = await session.get(Anomaly, anomaly_id, populate_existing=True)
    if row is None:
        return None
    stored = _stored(row, rules)
    siblings = await _client_rows(session, stored.card, states=OPEN_STATES)
    related = related_cards(stored.card, [_stored(other, None).card for other in siblings])
    return replace(stored, card=replace(stored.card, related=related)) if related else stored


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
    return with_related([_stored(row, rules).card for row in rows])


def with_related(found: list[Card]) -> list[Card]:
    """Each card with the other open anomalies of its client workload among ``found``."""
    open_by_client: dict[tuple[str, ...], list[Card]] = {}
    for card in found:
        if card.state in OPEN_STATES:
            open_by_client.setdefault(_client_key(card), []).append(card)
    return [replace(card, related=related_cards(card, open_by_client.get(_client_key(card), ())))
            for card in found]


def _client_key(card: Card) -> tuple[str, ...]:
    return (card.cluster, card.client.namespace, card.client.name, card.client.kind)


async def applied_for_client(session: AsyncSession, card: Card) -> list[Card]:
    """The client's other applied approvals: what a revoke of ``card`` must keep."""
    rows = await _client_rows(session, card, states=(State.APPLIED,))
    return [_stored(row, None).card for row in rows]


async def touch_client(session: AsyncSession, card: Card) -> None:
    """The client's intents changed: its other open cards show them, so they re-render."""
    client = card.client
    await changed_rows(session, update(Anomaly)
                       .where(Anomaly.cluster == card.cluster)
                       .where(Anomaly.client_namespace == client.namespace)
                       .where(Anomaly.client_name == client.name)
                       .where(Anomaly.client_kind == client.kind)
                       .where(Anomaly.id != card.anomaly_id)
                       .where(Anomaly.state.in_([s.value for s in OPEN_STATES]))
                       .values(revision=Anomaly.revision + 1))


async def find_id(session: AsyncSession, prefix: str) -> list[str]:
    """Anomaly ids starting with ``prefix`` (a card shows the first eight characters)."""
    if not prefix.isalnum():
        return []  # ids are hex digests; anything else names no anomaly (and no LIKE pattern)
    query = (select(Anomaly.id).where(Anomaly.id.like(f"{prefix}%"))
             .order_by(Anomaly.id).limit(10))
    return list((await session.execute(query)).scalars())


async def reopen_revoked(session: AsyncSession, ids: Collection[str], *,
                         now: datetime) -> list[str]:
    """Revoked flows seen again become new decisions: pending, nothing decided, and a new
    message (the old one keeps showing the revoke). A row whose messages do not show the
    revoke yet is left for the next sighting, so no message is left behind stale."""
    if not ids:
        return []
    fresh = {
        "state": State.PENDING.value, "version": Anomaly.version + 1,
        "revision": Anomaly.revision + 1, "detected_at": now,
        "decision": None, "decided_by": None, "decided_at": None, "approvals": [],
        "justifications": [], "revoked_by": None, "revoked_at": None, "revoke_result": None,
        "apply_attempts": 0, "next_apply_at": None, "apply_error": None, "applied_at": None,
        "applied_object": None, "retried_after_block_at": None, "escalated_at": None,
        "escalation_reason": None, "escalation_trigger": None,
        "slack_channel_id": None, "slack_ts": None, "post_attempted_at": None,
        "post_attempts": 0, "next_post_at": None, "message_revision": 0, "message_version": 0,
        "message_updated_at": None, "war_room_channel_id": None, "war_room_ts": None,
        "war_room_attempted_at": None, "war_room_next_at": None, "war_room_revision": 0,
        "incident_channel_id": None, "escalated_by": None, "war_room_link": None,
        # A person decides the new round: no rule's approval, snooze or pull request carries
        # over (and the rule check is not run again, so a revoked flow is not re-approved).
        "auto_rule": None, "snoozed_until": None, "snoozed_by": None, "snoozed_rank": None,
        "proposal_id": None, "proposal_url": None, "proposal_note": None,
        "group_id": None,  # a new card (or a row of a new group), not the old message
    }
    connection = await session.connection()
    reopened = await connection.execute(
        update(Anomaly).where(Anomaly.id.in_(list(ids)))
        .where(Anomaly.state == State.REVOKED.value)
        .where(or_(Anomaly.slack_ts.is_(None), Anomaly.message_version >= Anomaly.version))
        .where(or_(Anomaly.war_room_ts.is_(None),
                   Anomaly.war_room_revision >= Anomaly.version))
        .values(**fresh).returning(Anomaly.id)
        .execution_options(synchronize_session=False))
    return list(reopened.scalars())


async def _client_rows(session: AsyncSession, card: Card,
                       states: Collection[State]) -> list[Anomaly]:
    client = card.client
    query = (select(Anomaly)
             .where(Anomaly.cluster == card.cluster)
             .where(Anomaly.client_namespace == client.namespace)
             .where(Anomaly.client_name == client.name)
             .where(Anomaly.client_kind == client.kind)
             .where(Anomaly.id != card.anomaly_id)
             .where(Anomaly.state.in_([State(s).value for s in states]))
             .order_by(_SEVERITY_ORDER, Anomaly.first_seen).limit(50))
    return list((await session.execute(query)).scalars())


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


async def coverable(session: AsyncSession, *, after: str | None = None,
                    limit: int = 500) -> list[Card]:
    """One page of the flows an intent written elsewhere may still resolve (nobody decided
    them), in id order after ``after``: pass the last id of a page to read the next."""
    query = (select(Anomaly).where(Anomaly.state.in_([s.value for s in COVERABLE_STATES]))
             .order_by(Anomaly.id).limit(limit))
    if after is not None:
        query = query.where(Anomaly.id > after)
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
    client = Workload(name=row.client_name, namespace=row.client_namespace,
                      kind=row.client_kind, labels=dict(row.client_labels),
                      service_account=row.client_service_account)
    target = target_from_dict(row.target)
    risk = (assess(client=client, target=target, reason=row.reason, severity=row.severity,
                   rules=rules.risk, escalation=rules.escalation) if rules else BENIGN)
    needed = max(rules.approvals_required(row.client_namespace), risk.approvals) if rules else 1
    card = Card(
        anomaly_id=row.id, cluster=row.cluster, client=client,
        target=target, reason=Reason(row.reason),
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
        slack_ts=row.slack_ts, risk=risk,
        enforcement=rules.enforcement if rules else Enforcement(),
        justifications=tuple(Justification(by=str(j.get("by", "")),
                                           action=str(j.get("action", "")),
                                           text=str(j.get("text", "")))
                             for j in row.justifications or () if isinstance(j, dict)),
        revoked_by=row.revoked_by, revoked_at=row.revoked_at, revoke_result=row.revoke_result,
        covered_by=row.covered_by)
    delivery = Delivery(
        channel=row.channel, slack_channel_id=row.slack_channel_id, slack_ts=row.slack_ts,
        post_attempted_at=row.post_attempted_at, revision=row.revision,
        message_revision=row.message_revision, war_room_channel_id=row.war_room_channel_id,
        war_room_ts=row.war_room_ts, war_room_attempted_at=row.war_room_attempted_at,
        war_room_version=row.war_room_revision, incident_channel_id=row.incident_channel_id,
        war_room_link=row.war_room_link)
    return Stored(card=card, delivery=delivery)
