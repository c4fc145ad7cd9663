"""The append-only audit log: entries are added, never changed or removed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.store.models import AuditEntry


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
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if anomaly_id is not None:
        query = query.where(AuditEntry.anomaly_id == anomaly_id)
    return (await session.execute(query)).scalars().all()
