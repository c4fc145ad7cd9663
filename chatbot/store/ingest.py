"""Store a batch of validated events: fold them per flow fingerprint, bump the counters (and
raise the severity) of the flows already known in one UPDATE, and create the rest in one
upsert — a few statements per batch, never a round trip per event or per flow.

Which events to store is the caller's decision: the consumer drops Kafka redeliveries by the
offsets it stores in the same transaction (chatbot/store/offsets.py) and producer-side
repeats by a window of recent ids (chatbot/pipeline/recent.py). Here every event given is a
new sighting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from typing import cast as typed

from sqlalchemy import (
    JSON,
    ColumnElement,
    Table,
    case,
    cast,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.config.rules import Rules
from chatbot.events.codec import target_to_dict
from chatbot.events.fingerprint import fingerprint as plain_fingerprint
from chatbot.events.model import FlowEvent, Severity
from chatbot.lifecycle import State
from chatbot.store.anomalies import reopen_revoked
from chatbot.store.audit import record
from chatbot.store.batch_rows import BatchRows
from chatbot.store.dialect import insert_for
from chatbot.store.models import Anomaly, AuditEntry

ANOMALIES = typed(Table, Anomaly.__table__)
AUDIT = typed(Table, AuditEntry.__table__)
_TIME = ANOMALIES.c.last_seen.type
_RANK = {severity: severity.rank for severity in Severity}
Fingerprint = Callable[[FlowEvent], str]


@dataclass(slots=True)
class Sighting:
    """All events of one fingerprint in a batch, folded together."""

    anomaly_id: str
    event: FlowEvent
    count: int
    first: datetime
    last: datetime
    severity: Severity


@dataclass
class IngestResult:
    events: int = 0
    redelivered: int = 0
    new_anomalies: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    retried_after_block: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    """Revoked flows seen again: each is a new decision, with a new message."""


async def ingest(
    session: AsyncSession, events: Sequence[FlowEvent], *, rules: Rules, now: datetime,
    fingerprint: Fingerprint = plain_fingerprint,
) -> IngestResult:
    result = IngestResult(events=len(events))
    # Sorted: every replica writes (and on PostgreSQL locks) rows in the same order, so two
    # storing the same flows at once wait for each other instead of deadlocking.
    sightings = sorted(fold(events, fingerprint).values(), key=lambda s: s.anomaly_id)
    if not sightings:
        return result
    rows = BatchRows(session.get_bind().dialect)
    # Known flows first, with a plain UPDATE of four fields a row (a flood is almost all
    # known flows); the rest are inserted by an upsert, which also bumps any that another
    # replica created in between.
    known, blocked, revoked = await _bump(session, rows, sightings)
    unknown = [s for s in sightings if s.anomaly_id not in known]
    created: set[str] = set()
    if unknown:
        created, also_blocked = await _upsert(session, rows, unknown, rules=rules, now=now)
        blocked += also_blocked
    result.new_anomalies = [s.anomaly_id for s in sightings if s.anomaly_id in created]
    result.repeated = [s.anomaly_id for s in sightings if s.anomaly_id not in created]
    if result.new_anomalies:
        await _detected(session, rows, result.new_anomalies, now)
    if blocked:
        result.retried_after_block = await _retried_after_block(
            session, blocked, now=now,
            window=timedelta(seconds=rules.escalation.retried_after_block_window_seconds))
    if result.retried_after_block:
        await _mark_retried_after_block(session, result.retried_after_block, now)
    if revoked:
        result.reopened = await reopen_revoked(session, revoked, now=now)
        for anomaly_id in result.reopened:
            record(session, anomaly_id=anomaly_id, actor="system", action="reopened",
                   result="ok", now=now, detail={"after": State.REVOKED.value})
    return result


def fold(events: Sequence[FlowEvent], fingerprint: Fingerprint) -> dict[str, Sighting]:
    """One Sighting per fingerprint: counts summed, first and last time, highest severity.

    Events are grouped by their (cluster, client, target) objects first — the fast decoder
    hands out one client and one target object per distinct sub-document, so a flood
    costs one dict lookup per event and one fingerprint per group; groups that turn out
    to be one flow (labels differ, say) are merged after. Inlined rather than a method
    per event: this loop runs once per consumed event."""
    groups: dict[tuple[str, int, int], Sighting] = {}
    rank = _RANK
    for event in events:
        key = (event.cluster, id(event.client), id(event.target))
        sighting = groups.get(key)
        if sighting is None:
            seen = event.observed_at
            groups[key] = Sighting("", event, event.count, seen, seen, event.severity)
            continue
        sighting.count += event.count
        seen = event.observed_at
        if seen > sighting.last:
            sighting.last = seen
        elif seen < sighting.first:
            sighting.first = seen
        severity = event.severity
        if severity is not sighting.severity and rank[severity] > rank[sighting.severity]:
            sighting.severity = severity
    sightings: dict[str, Sighting] = {}
    for group in groups.values():
        group.anomaly_id = anomaly_id = fingerprint(group.event)
        known = sightings.get(anomaly_id)
        if known is None:
            sightings[anomaly_id] = group
            continue
        known.count += group.count
        known.first = min(known.first, group.first)
        known.last = max(known.last, group.last)
        if rank[group.severity] > rank[known.severity]:
            known.severity = group.severity
    return sightings


async def _bump(session: AsyncSession, rows: BatchRows, sightings: list[Sighting]
                ) -> tuple[set[str], list[str], list[str]]:
    """Add the sightings to the flows already stored — count, last seen, the severity raised
    to the highest seen, revision (so the message is re-rendered) — in one statement;
    returns the ids it touched and those among them that are blocked or revoked."""
    table = ANOMALIES
    connection = await session.connection()
    # Which are stored: only those rows go into the UPDATE (a new cluster's batch is all
    # new flows). On PostgreSQL the same query locks them in id order, as every replica
    # does — an UPDATE … FROM would lock them in whatever order its join runs.
    probe = (select(table.c.id).where(table.c.id.in_(rows.select(rows.field(0))))
             .order_by(table.c.id))
    if connection.dialect.name == "postgresql":
        probe = probe.with_for_update()
    stored = set((await connection.execute(
        probe, await rows.load(connection, [(s.anomaly_id,) for s in sightings]))).scalars())
    if not stored:
        return set(), [], []
    data = [(s.anomaly_id, s.count, rows.stored_time(s.last), s.severity.value)
            for s in sightings if s.anomaly_id in stored]
    seen = rows.select(rows.field(0).label("id"), rows.integer(1).label("n"),
                       rows.time(2).label("last"), rows.field(3).label("severity")
                       ).subquery("seen")
    bumped = await connection.execute(
        update(table).where(table.c.id == seen.c.id).values(
            event_count=table.c.event_count + seen.c.n,
            last_seen=case((table.c.last_seen < seen.c.last, seen.c.last),
                           else_=table.c.last_seen),
            severity=case((_rank(seen.c.severity) > _rank(table.c.severity), seen.c.severity),
                          else_=table.c.severity),
            revision=table.c.revision + 1,
        ).returning(table.c.id, table.c.state), await rows.load(connection, data))
    known: set[str] = set()
    blocked: list[str] = []
    revoked: list[str] = []
    for anomaly_id, state in bumped:
        known.add(anomaly_id)
        if state == State.BLOCKED:
            blocked.append(anomaly_id)
        elif state == State.REVOKED:
            revoked.append(anomaly_id)
    return known, blocked, revoked


_NEW_COLUMNS = ("id", "cluster", "client_namespace", "client_name", "client_kind",
                "client_labels", "target", "reason", "severity", "event_count", "first_seen",
                "last_seen", "channel", "client_service_account")
_NEW_DEFAULTS: dict[str, object] = {
    "state": State.PENDING.value, "version": 1, "post_attempts": 0, "war_room_revision": 0,
    "revision": 1, "message_revision": 0, "message_version": 0, "apply_attempts": 0,
}


async def _upsert(session: AsyncSession, rows: BatchRows, sightings: list[Sighting], *,
                  rules: Rules, now: datetime) -> tuple[set[str], list[str]]:
    """One statement for the flows :func:`_bump` did not find: each becomes a row, or — if
    another replica created it meanwhile — gets the sightings added as _bump would. Returns
    the ids this call created (a created row is at revision 1, an updated one past it) and
    the others that are blocked."""
    table = ANOMALIES
    connection = await session.connection()
    per_row = [rows.field(0), rows.field(1), rows.field(2), rows.field(3), rows.field(4),
               rows.document(5), rows.document(6), rows.field(7), rows.field(8),
               rows.integer(9), rows.time(10), rows.time(11), rows.field(12),
               rows.field(13)]
    fixed = [literal(value) for value in _NEW_DEFAULTS.values()]
    columns = [*per_row, *fixed, literal(now, _TIME), _json(connection.dialect.name, "[]")]
    names = [*_NEW_COLUMNS, *_NEW_DEFAULTS, "detected_at", "approvals"]
    statement = insert_for(session, table).from_select(
        names, rows.select(*columns).where(true()))  # where: SQLite's upsert grammar
    new = statement.excluded
    statement = statement.on_conflict_do_update(index_elements=["id"], set_={
        "event_count": table.c.event_count + new.event_count,
        "last_seen": case((table.c.last_seen < new.last_seen, new.last_seen),
                          else_=table.c.last_seen),
        "severity": case((_rank(new.severity) > _rank(table.c.severity), new.severity),
                         else_=table.c.severity),
        "revision": table.c.revision + 1,
    }).returning(table.c.id, table.c.state, table.c.revision)
    shared = _Shared(rules, rows)
    parameters = await rows.load(connection, [shared.row(s) for s in sightings])
    created: set[str] = set()
    blocked: list[str] = []
    for anomaly_id, state, revision in await connection.execute(statement, parameters):
        if revision == 1:
            created.add(anomaly_id)
        elif state == State.BLOCKED:
            blocked.append(anomaly_id)
    return created, blocked


def _rank(severity: ColumnElement[Any]) -> ColumnElement[Any]:
    return case({s.value: rank for s, rank in _RANK.items()}, value=severity, else_=-1)


class _Shared:
    """What new rows share, worked out once per call: a namespace's channel (routing is a
    glob match per rule), a client's labels and a target as stored JSON (the decoder hands
    out one object per distinct client and target, alive for the whole call)."""

    def __init__(self, rules: Rules, rows: BatchRows) -> None:
        self._rules = rules
        self._rows = rows
        self._channels: dict[str, str] = {}
        self._documents: dict[int, object] = {}

    def row(self, sighting: Sighting) -> tuple[object, ...]:
        event = sighting.event
        client, target = event.client, event.target
        channel = self._channels.get(client.namespace)
        if channel is None:
            channel = self._channels[client.namespace] = self._rules.channel_for(
                client.namespace)
        labels = self._documents.get(id(client))
        if labels is None:
            labels = self._documents[id(client)] = self._rows.json(client.labels)
        stored_target = self._documents.get(id(target))
        if stored_target is None:
            stored_target = self._documents[id(target)] = self._rows.json(
                target_to_dict(target))
        rows = self._rows
        return (sighting.anomaly_id, event.cluster, client.namespace, client.name,
                client.kind, labels, stored_target, event.reason.value,
                sighting.severity.value, sighting.count, rows.stored_time(sighting.first),
                rows.stored_time(sighting.last), channel, client.service_account)


async def _detected(session: AsyncSession, rows: BatchRows, created: list[str],
                    now: datetime) -> None:
    """The "detected" audit entries record() would add, one statement for the batch."""
    connection = await session.connection()
    parameters = await rows.load(connection, [(anomaly_id,) for anomaly_id in created])
    await connection.execute(
        insert(AUDIT).from_select(
            ["at", "anomaly_id", "actor", "action", "result", "detail"],
            rows.select(literal(now, _TIME), rows.field(0), literal("system"),
                        literal("detected"), literal("ok"),
                        _json(connection.dialect.name, "{}"))),
        parameters)


def _json(dialect: str, text: str) -> ColumnElement[Any]:
    """A constant JSON document for a JSON column (SQLite stores JSON as its text)."""
    return literal(text) if dialect == "sqlite" else cast(literal(text), JSON)


async def _retried_after_block(session: AsyncSession, blocked: list[str], *, now: datetime,
                               window: timedelta) -> list[str]:
    """The blocked flows seen again that have not been retried within ``window``."""
    rows = await session.execute(
        select(ANOMALIES.c.id, ANOMALIES.c.retried_after_block_at)
        .where(ANOMALIES.c.id.in_(blocked)).order_by(ANOMALIES.c.id))
    return [anomaly_id for anomaly_id, retried_at in rows
            if retried_at is None or now - retried_at >= window]


async def _mark_retried_after_block(
    session: AsyncSession, ids: list[str], now: datetime
) -> None:
    connection = await session.connection()
    table = ANOMALIES
    await connection.execute(
        update(table).where(table.c.id.in_(ids))
        .values(retried_after_block_at=now, revision=table.c.revision + 1)
    )
    for anomaly_id in ids:
        record(session, anomaly_id=anomaly_id, actor="system", action="retried_after_block",
               result="ok", now=now)
