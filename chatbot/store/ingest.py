"""Store a batch of validated events: drop redelivered event ids, create one anomaly per new
fingerprint, and bump counters on the ones already known — a few statements per batch,
never a round trip per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from typing import cast as typed

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Select,
    String,
    Table,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.config.rules import Rules
from chatbot.events.codec import target_to_dict
from chatbot.events.fingerprint import fingerprint
from chatbot.events.model import FlowEvent, Severity
from chatbot.lifecycle import State
from chatbot.store.anomalies import reopen_revoked
from chatbot.store.audit import record
from chatbot.store.dialect import insert_for
from chatbot.store.models import Anomaly, AuditEntry, SeenEvent

ANOMALIES = typed(Table, Anomaly.__table__)
AUDIT = typed(Table, AuditEntry.__table__)
_TIME = ANOMALIES.c.last_seen.type
CHUNK = 500  # keeps every statement well under SQLite's bound-parameter limit
Known = tuple[str, datetime | None]  # a stored flow's state and when it last retried a block


@dataclass
class Sighting:
    """All new events of one fingerprint in a batch, folded together."""

    anomaly_id: str
    event: FlowEvent
    count: int
    first: datetime
    last: datetime
    severity: Severity

    def add(self, event: FlowEvent) -> None:
        self.count += event.count
        seen = event.observed_at
        if seen < self.first:
            self.first = seen
        elif seen > self.last:
            self.last = seen
        if event.severity is not self.severity and event.severity.rank > self.severity.rank:
            self.severity = event.severity


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
    session: AsyncSession, events: Sequence[FlowEvent], *, rules: Rules, now: datetime
) -> IngestResult:
    result = IngestResult(events=len(events))
    fresh = await _first_sightings(session, events, now)
    result.redelivered = len(events) - len(fresh)
    sightings = _fold(fresh)
    if not sightings:
        return result
    # Bump first: the rows it touches are the known flows (with their state), the rest are
    # new. One that another replica creates in between is bumped after our insert loses.
    known = await _bump(session, list(sightings.values()))
    unknown = [s for s in sightings.values() if s.anomaly_id not in known]
    created = await _create(session, unknown, rules=rules, now=now)
    result.new_anomalies = created
    taken = set(created)
    known.update(await _bump(session, [s for s in unknown if s.anomaly_id not in taken]))
    repeated = [s for s in sightings.values() if s.anomaly_id in known]
    result.repeated = [s.anomaly_id for s in repeated]
    window = timedelta(seconds=rules.escalation.retried_after_block_window_seconds)
    for sighting in repeated:
        state, retried_at = known.get(sighting.anomaly_id, (None, None))
        if state == State.BLOCKED and (retried_at is None or now - retried_at >= window):
            result.retried_after_block.append(sighting.anomaly_id)
    if result.retried_after_block:
        await _mark_retried_after_block(session, result.retried_after_block, now)
    revoked = [s.anomaly_id for s in repeated
               if known.get(s.anomaly_id, (None, None))[0] == State.REVOKED]
    if revoked:
        result.reopened = await reopen_revoked(session, revoked, now=now)
        for anomaly_id in result.reopened:
            record(session, anomaly_id=anomaly_id, actor="system", action="reopened",
                   result="ok", now=now, detail={"after": State.REVOKED.value})
    return result


async def _first_sightings(
    session: AsyncSession, events: Sequence[FlowEvent], now: datetime
) -> list[tuple[str, FlowEvent]]:
    """Events whose id was never stored before (the insert tells us which), fingerprinted."""
    unique: dict[str, tuple[str, FlowEvent]] = {}
    for event in events:
        if event.event_id not in unique:
            unique[event.event_id] = (fingerprint(event), event)
    rows = _JsonRows(session)
    columns = rows.select(rows.field(0), rows.field(1),
                          literal(now, SeenEvent.__table__.c.seen_at.type))
    statement = (
        insert_for(session, SeenEvent.__table__)
        .from_select(["event_id", "anomaly_id", "seen_at"], columns.where(true()))
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(SeenEvent.event_id)
    )
    bound = rows.bind([(eid, fp) for eid, (fp, _) in unique.items()])
    connection = await session.connection()
    inserted = set((await connection.execute(statement, bound)).scalars())
    return [pair for eid, pair in unique.items() if eid in inserted]


def _fold(fresh: list[tuple[str, FlowEvent]]) -> dict[str, Sighting]:
    sightings: dict[str, Sighting] = {}
    for anomaly_id, event in fresh:
        sighting = sightings.get(anomaly_id)
        if sighting is None:
            sightings[anomaly_id] = Sighting(anomaly_id, event, event.count, event.observed_at,
                                             event.observed_at, event.severity)
        else:
            sighting.add(event)
    return sightings


async def _create(
    session: AsyncSession, sightings: list[Sighting], *, rules: Rules, now: datetime
) -> list[str]:
    if not sightings:
        return []
    connection = await session.connection()
    # executemany: one cached statement, batched by the driver layer ("insertmanyvalues"),
    # instead of a multi-row VALUES compiled afresh for every batch.
    created = list((await connection.execute(
        insert_for(session, ANOMALIES).on_conflict_do_nothing(index_elements=["id"])
        .returning(ANOMALIES.c.id),
        [_new_row(s, rules, now) for s in sightings],
    )).scalars())
    if created:
        # The audit entries record() would add, written in one statement rather than one
        # ORM flush round trip each.
        await connection.execute(insert(AUDIT), [
            {"at": now, "anomaly_id": anomaly_id, "actor": "system", "action": "detected",
             "result": "ok", "detail": {}} for anomaly_id in created])
    return created


def _new_row(sighting: Sighting, rules: Rules, now: datetime) -> dict[str, object]:
    event = sighting.event
    return {
        "id": sighting.anomaly_id, "cluster": event.cluster,
        "client_namespace": event.client.namespace, "client_name": event.client.name,
        "client_kind": event.client.kind, "client_labels": dict(event.client.labels),
        "client_service_account": event.client.service_account,
        "target": target_to_dict(event.target), "reason": event.reason.value,
        "severity": sighting.severity.value, "state": State.PENDING.value, "version": 1,
        "event_count": sighting.count, "first_seen": sighting.first, "last_seen": sighting.last,
        "channel": rules.channel_for(event.client.namespace), "post_attempts": 0,
        "detected_at": now, "approvals": [], "war_room_revision": 0,
        "revision": 1, "message_revision": 0, "message_version": 0,
        "apply_attempts": 0,
    }


async def _bump(session: AsyncSession, sightings: list[Sighting]) -> dict[str, Known]:
    """Add the sightings to the flows already stored; returns those flows' states."""
    if not sightings:
        return {}
    rows = _JsonRows(session)
    table = ANOMALIES
    seen = rows.select(rows.field(0).label("id"), rows.integer(1).label("n"),
                       rows.time(2).label("last")).subquery("seen")
    connection = await session.connection()
    bumped = await connection.execute(
        update(table).where(table.c.id == seen.c.id).values(
            event_count=table.c.event_count + seen.c.n,
            last_seen=case((table.c.last_seen < seen.c.last, seen.c.last),
                           else_=table.c.last_seen),
            revision=table.c.revision + 1,
        ).returning(table.c.id, table.c.state, table.c.retried_after_block_at),
        rows.bind([(s.anomaly_id, s.count, rows.stored_time(s.last)) for s in sightings]),
    )
    known = {row.id: (row.state, row.retried_after_block_at) for row in bumped}
    raised = [s for s in sightings
              if s.severity.rank > Severity.MEDIUM.rank and s.anomaly_id in known]
    for sighting in raised:
        await connection.execute(
            update(table).where(table.c.id == sighting.anomaly_id)
            .where(table.c.severity.in_(_below(sighting.severity)))
            .values(severity=sighting.severity.value)
        )
    return known


def _below(severity: Severity) -> list[str]:
    return [s.value for s in Severity if s.rank < severity.rank]


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


class _JsonRows:
    """A batch of rows bound as ONE JSON-array parameter and read back as a table by the
    database, so one statement covers a whole batch: no per-row parameter processing, no
    statement compiled per batch size, no bound-parameter limit."""

    def __init__(self, session: AsyncSession) -> None:
        self._dialect = session.get_bind().dialect
        self._sqlite = self._dialect.name == "sqlite"
        document = bindparam("rows", type_=String())
        if self._sqlite:
            elements = func.json_each(document)
        elif self._dialect.name == "postgresql":
            elements = func.json_array_elements(cast(document, JSON))
        else:
            raise RuntimeError(f"unsupported database dialect {self._dialect.name!r}")
        self._table = elements.table_valued("value").alias("batch")
        self._store_time = _TIME.dialect_impl(self._dialect).bind_processor(self._dialect)

    def select(self, *columns: ColumnElement[Any]) -> Select[Any]:
        return select(*columns).select_from(self._table)

    def field(self, index: int) -> ColumnElement[Any]:
        value = self._table.c.value
        if self._sqlite:
            return func.json_extract(value, f"$[{index}]")
        return value.op("->>")(literal_column(str(index)))

    def integer(self, index: int) -> ColumnElement[Any]:
        return cast(self.field(index), BigInteger)

    def time(self, index: int) -> ColumnElement[Any]:
        """A timestamp written by :meth:`stored_time`, comparable with the column."""
        if self._sqlite:
            return self.field(index)
        return cast(self.field(index), DateTime(timezone=True))

    def stored_time(self, value: datetime) -> str:
        """SQLite compares the column's own text form; PostgreSQL casts ISO 8601 back."""
        if self._sqlite and self._store_time is not None:
            return str(self._store_time(value))
        return value.isoformat()

    @staticmethod
    def bind(rows: Sequence[tuple[object, ...]]) -> dict[str, str]:
        return {"rows": orjson.dumps(rows).decode()}
