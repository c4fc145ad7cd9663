"""Store a batch of validated events: drop redelivered event ids, create one anomaly per new
fingerprint, and bump counters on the ones already known — a few statements per batch,
never a round trip per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import orjson
from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.config.rules import Rules
from chatbot.events.codec import target_to_dict
from chatbot.events.fingerprint import fingerprint
from chatbot.events.model import FlowEvent, Severity
from chatbot.lifecycle import State
from chatbot.store.audit import record
from chatbot.store.dialect import insert_for
from chatbot.store.models import Anomaly, SeenEvent

ANOMALIES = cast(Table, Anomaly.__table__)
_TIME = ANOMALIES.c.last_seen.type
CHUNK = 500  # keeps every statement well under SQLite's bound-parameter limit


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
        self.first = min(self.first, event.observed_at)
        self.last = max(self.last, event.observed_at)
        if event.severity.rank > self.severity.rank:
            self.severity = event.severity


@dataclass
class IngestResult:
    events: int = 0
    redelivered: int = 0
    new_anomalies: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    retried_after_block: list[str] = field(default_factory=list)


async def ingest(
    session: AsyncSession, events: Sequence[FlowEvent], *, rules: Rules, now: datetime
) -> IngestResult:
    result = IngestResult(events=len(events))
    fresh = await _first_sightings(session, events, now)
    result.redelivered = len(events) - len(fresh)
    sightings = _fold(fresh)
    if not sightings:
        return result
    known = await _known_states(session, list(sightings))
    created = await _create(session, [s for s in sightings.values() if s.anomaly_id not in known],
                            rules=rules, now=now)
    result.new_anomalies = created
    repeated = [s for s in sightings.values() if s.anomaly_id not in created]
    await _bump(session, repeated, now)
    result.repeated = [s.anomaly_id for s in repeated]
    window = timedelta(seconds=rules.escalation.retried_after_block_window_seconds)
    for sighting in repeated:
        state, retried_at = known.get(sighting.anomaly_id, (None, None))
        if state == State.BLOCKED and (retried_at is None or now - retried_at >= window):
            result.retried_after_block.append(sighting.anomaly_id)
    if result.retried_after_block:
        await _mark_retried_after_block(session, result.retried_after_block, now)
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
    statement = text(
        f"INSERT INTO {SeenEvent.__tablename__} (event_id, anomaly_id, seen_at) "
        f"SELECT {rows.field(0)}, {rows.field(1)}, :seen_at FROM {rows.source} WHERE 1 = 1 "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
    ).bindparams(bindparam("seen_at", type_=SeenEvent.__table__.c.seen_at.type))
    documents = [(eid, fp) for eid, (fp, _) in unique.items()]
    inserted = set((await session.execute(
        statement, {"rows": rows.bind(documents), "seen_at": now})).scalars())
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


async def _known_states(
    session: AsyncSession, ids: list[str]
) -> dict[str, tuple[str, datetime | None]]:
    known: dict[str, tuple[str, datetime | None]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = await session.execute(
            select(Anomaly.id, Anomaly.state, Anomaly.retried_after_block_at)
            .where(Anomaly.id.in_(ids[start : start + CHUNK]))
        )
        known.update({row.id: (row.state, row.retried_after_block_at) for row in rows})
    return known


async def _create(
    session: AsyncSession, sightings: list[Sighting], *, rules: Rules, now: datetime
) -> list[str]:
    created: list[str] = []
    for start in range(0, len(sightings), CHUNK):
        rows = [_new_row(s, rules, now) for s in sightings[start : start + CHUNK]]
        statement = (insert_for(session, Anomaly).values(rows)
                     .on_conflict_do_nothing(index_elements=["id"]).returning(Anomaly.id))
        created.extend((await session.execute(statement)).scalars())
    for anomaly_id in created:
        record(session, anomaly_id=anomaly_id, actor="system", action="detected", result="ok",
               now=now)
    return created


def _new_row(sighting: Sighting, rules: Rules, now: datetime) -> dict[str, object]:
    event = sighting.event
    return {
        "id": sighting.anomaly_id, "cluster": event.cluster,
        "client_namespace": event.client.namespace, "client_name": event.client.name,
        "client_kind": event.client.kind, "client_labels": dict(event.client.labels),
        "target": target_to_dict(event.target), "reason": event.reason.value,
        "severity": sighting.severity.value, "state": State.PENDING.value, "version": 1,
        "event_count": sighting.count, "first_seen": sighting.first, "last_seen": sighting.last,
        "channel": rules.channel_for(event.client.namespace), "post_attempts": 0,
        "detected_at": now, "approvals": [], "war_room_revision": 0,
        "revision": 1, "message_revision": 0, "message_version": 0,
        "apply_attempts": 0,
    }


async def _bump(session: AsyncSession, sightings: list[Sighting], now: datetime) -> None:
    if not sightings:
        return
    rows = _JsonRows(session)
    table = ANOMALIES.name
    await session.execute(text(
        f"UPDATE {table} SET event_count = {table}.event_count + seen.n, "
        f"last_seen = CASE WHEN {table}.last_seen < seen.last THEN seen.last "
        f"ELSE {table}.last_seen END, revision = {table}.revision + 1 "
        f"FROM (SELECT {rows.field(0)} AS id, {rows.integer(1)} AS n, {rows.time(2)} AS last "
        f"FROM {rows.source}) AS seen WHERE {table}.id = seen.id"
    ), {"rows": rows.bind([(s.anomaly_id, s.count, rows.stored_time(s.last))
                           for s in sightings])})
    raised = [s for s in sightings if s.severity.rank > Severity.MEDIUM.rank]
    connection = await session.connection()
    for sighting in raised:
        await connection.execute(
            update(ANOMALIES).where(ANOMALIES.c.id == sighting.anomaly_id)
            .where(ANOMALIES.c.severity.in_(_below(sighting.severity)))
            .values(severity=sighting.severity.value)
        )


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
    """A batch of rows bound as ONE JSON-array parameter (``:rows``) and read back as a table
    by the database, so one statement covers a whole batch with a single bind: no per-row
    parameter processing, no statement compiled per batch size, no bound-parameter limit."""

    def __init__(self, session: AsyncSession) -> None:
        self._dialect = session.get_bind().dialect
        self._sqlite = self._dialect.name == "sqlite"
        if self._sqlite:
            self.source = "json_each(:rows)"
        elif self._dialect.name == "postgresql":
            self.source = "json_array_elements(CAST(:rows AS json)) AS batch(value)"
        else:
            raise RuntimeError(f"unsupported database dialect {self._dialect.name!r}")

    def field(self, index: int) -> str:
        return f"json_extract(value, '$[{index}]')" if self._sqlite else f"(value ->> {index})"

    def integer(self, index: int) -> str:
        return f"CAST({self.field(index)} AS BIGINT)"

    def time(self, index: int) -> str:
        """A timestamp stored as :meth:`stored_time` wrote it, comparable with the column."""
        return self.field(index) if self._sqlite else f"CAST({self.field(index)} AS timestamptz)"

    def stored_time(self, value: datetime) -> str:
        """SQLite keeps the column's own text form (it compares as text); PostgreSQL casts
        ISO 8601 back to timestamptz."""
        if self._sqlite:
            return str(_TIME.dialect_impl(self._dialect).bind_processor(self._dialect)(value))
        return value.isoformat()

    @staticmethod
    def bind(rows: Sequence[tuple[object, ...]]) -> str:
        return orjson.dumps(rows).decode()
