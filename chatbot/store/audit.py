"""The append-only audit log: entries are added, never changed or removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.store.models import AuditEntry


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the log as read back: who did what to which anomaly, with what result."""

    id: int
    at: datetime
    anomaly_id: str
    actor: str
    action: str
    result: str
    detail: dict[str, Any]


def record(
    session: AsyncSession,
    *,
    anomaly_id: str,
    actor: str,
    action: str,
    result: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(AuditEntry(at=now, anomaly_id=anomaly_id, actor=actor, action=action,
                           result=result, detail=detail or {}))


async def entries(
    session: AsyncSession, *, anomaly_id: str | None = None, limit: int = 200
) -> list[Entry]:
    """Newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if anomaly_id is not None:
        query = query.where(AuditEntry.anomaly_id == anomaly_id)
    return [Entry(id=row.id, at=row.at, anomaly_id=row.anomaly_id, actor=row.actor,
                  action=row.action, result=row.result, detail=dict(row.detail))
            for row in (await session.execute(query)).scalars()]
