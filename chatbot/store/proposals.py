"""The proposals table's one owner (git sink): batches of approvals for one repository folder,
each a bot branch and, once opened, its pull request.

A batch is stored *before* any git work, with its branch name, so a run that dies after the
push finds the same branch again and looks its pull request up instead of opening a second
one. Like every store function these take the caller's session: the caller owns the
transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.card import Card
from chatbot.config.rules import Rules
from chatbot.lifecycle import State
from chatbot.store.anomalies import changed_rows, load_card
from chatbot.store.models import Anomaly, Proposal

COLLECTING = "collecting"
OPEN = "open"
MERGED = "merged"
CLOSED = "closed"
UNBATCHED_STATES = (State.APPROVED, State.APPLY_FAILED)


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    destination: str
    branch: str
    opened_at: datetime
    closes_at: datetime
    state: str
    number: int | None
    url: str | None
    head_sha: str | None
    etag: str | None
    attempts: int
    next_attempt_at: datetime | None
    error: str | None


class BatchChanges(TypedDict, total=False):
    state: str
    number: int | None
    url: str | None
    head_sha: str | None
    etag: str | None
    attempts: int
    next_attempt_at: datetime | None
    error: str | None


async def collecting(session: AsyncSession, *, destination: str, now: datetime) -> Batch | None:
    """The batch for ``destination`` whose window is still open, if any."""
    row = (await session.execute(
        select(Proposal).where(Proposal.destination == destination)
        .where(Proposal.state == COLLECTING).where(Proposal.closes_at > now)
        .order_by(Proposal.opened_at.desc()).limit(1))).scalar_one_or_none()
    return None if row is None else _batch(row)


async def start(session: AsyncSession, *, batch_id: str, destination: str, branch: str,
                opened_at: datetime, closes_at: datetime) -> Batch:
    row = Proposal(id=batch_id, destination=destination, branch=branch, opened_at=opened_at,
                   closes_at=closes_at, state=COLLECTING, attempts=0, updated_at=opened_at)
    session.add(row)
    await session.flush()
    return _batch(row)


async def get(session: AsyncSession, batch_id: str) -> Batch | None:
    row = await session.get(Proposal, batch_id, populate_existing=True)
    return None if row is None else _batch(row)


async def by_pull_request(session: AsyncSession, *, branch: str, number: int) -> Batch | None:
    """The batch a forge's pull request (a webhook's) belongs to, by its branch and number."""
    row = (await session.execute(
        select(Proposal).where(Proposal.branch == branch)
        .where(or_(Proposal.number == number, Proposal.number.is_(None)))
    )).scalar_one_or_none()
    return None if row is None else _batch(row)


async def unbatched(session: AsyncSession, *, limit: int) -> list[tuple[str, int]]:
    """Approved anomalies no batch carries yet: (id, version), oldest decision first."""
    rows = (await session.execute(
        select(Anomaly.id, Anomaly.version).where(Anomaly.state.in_(UNBATCHED_STATES))
        .where(Anomaly.proposal_id.is_(None)).order_by(Anomaly.decided_at).limit(limit))).all()
    return [(row.id, row.version) for row in rows]


async def join(session: AsyncSession, anomaly_id: str, *, version: int, batch_id: str) -> bool:
    """Put the anomaly in the batch unless it changed or joined one meanwhile."""
    return await changed_rows(session, update(Anomaly).where(Anomaly.id == anomaly_id)
                              .where(Anomaly.version == version)
                              .where(Anomaly.proposal_id.is_(None))
                              .values(proposal_id=batch_id, proposal_note=None)) == 1


async def due(session: AsyncSession, *, now: datetime, limit: int = 20) -> list[Batch]:
    """Batches whose window closed and whose pull request is not open yet (or a retry is due)."""
    rows = (await session.execute(
        select(Proposal).where(Proposal.state == COLLECTING).where(Proposal.closes_at <= now)
        .where(or_(Proposal.next_attempt_at.is_(None), Proposal.next_attempt_at <= now))
        .order_by(Proposal.opened_at).limit(limit))).scalars().all()
    return [_batch(row) for row in rows]


async def in_state(session: AsyncSession, states: Collection[str], *,
                   limit: int = 100) -> list[Batch]:
    rows = (await session.execute(
        select(Proposal).where(Proposal.state.in_(list(states)))
        .order_by(Proposal.opened_at).limit(limit))).scalars().all()
    return [_batch(row) for row in rows]


async def claim(session: AsyncSession, batch_id: str, *, seen: datetime | None,
                until: datetime) -> bool:
    """Take a due batch until ``until``; another replica that saw the same lease loses."""
    lease = (Proposal.next_attempt_at.is_(None) if seen is None
             else Proposal.next_attempt_at == seen)
    return await changed_rows(session, update(Proposal).where(Proposal.id == batch_id)
                              .where(Proposal.state == COLLECTING).where(lease)
                              .values(next_attempt_at=until)) == 1


async def change(session: AsyncSession, batch_id: str, *, now: datetime,
                 changes: BatchChanges) -> None:
    values: dict[str, Any] = {**changes, "updated_at": now}
    await changed_rows(session, update(Proposal).where(Proposal.id == batch_id).values(**values))


async def cards(session: AsyncSession, batch_id: str, *,
                rules: Rules | None = None) -> list[Card]:
    """The anomalies the batch carries, in order of decision."""
    ids = (await session.execute(
        select(Anomaly.id).where(Anomaly.proposal_id == batch_id)
        .order_by(Anomaly.decided_at, Anomaly.id))).scalars().all()
    found = [await load_card(session, anomaly_id, rules=rules) for anomaly_id in ids]
    return [card for card in found if card is not None]


def _batch(row: Proposal) -> Batch:
    return Batch(id=row.id, destination=row.destination, branch=row.branch,
                 opened_at=row.opened_at, closes_at=row.closes_at, state=row.state,
                 number=row.number, url=row.url, head_sha=row.head_sha, etag=row.etag,
                 attempts=row.attempts, next_attempt_at=row.next_attempt_at, error=row.error)
