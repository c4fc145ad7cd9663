"""Deciding on stored anomalies: authorization, compare-and-set, audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.clock import ManualClock
from chatbot.config.rules import Approvers, Rules
from chatbot.decisions import Decider, Verdict
from chatbot.events.parse import parse_event
from chatbot.lifecycle import Action, State
from chatbot.store.ingest import ingest
from chatbot.store.models import Anomaly, AuditEntry

RULES = Rules(default_channel="flow-alerts",
              approvers=(Approvers(namespaces=("rps",), users=frozenset({"U0OWNER"}),
                                   groups=frozenset({"S0TEAM"})),))


def event(event_id: str, *, path: str = "/api/play", namespace: str = "rps") -> bytes:
    return orjson.dumps({
        "schema_version": 1, "event_id": event_id, "observed_at": "2026-11-23T10:00:00Z",
        "cluster": "prod", "client": {"name": "web", "namespace": namespace,
                                      "kind": "Deployment"},
        "target": {"type": "kubernetes", "name": "game-api", "namespace": "rps", "port": 8080,
                   "protocol": "TCP", "http": {"path": path, "method": "POST"}},
    })


async def stored(sessions: async_sessionmaker[AsyncSession], *raw: bytes) -> str:
    async with sessions.begin() as session:
        result = await ingest(session, [parse_event(r) for r in raw], rules=RULES,
                              now=datetime(2026, 11, 23, tzinfo=UTC))
    return (result.new_anomalies or result.repeated)[0]


async def group(group_id: str) -> frozenset[str]:
    return frozenset({"U0MEMBER"}) if group_id == "S0TEAM" else frozenset()


def decider(sessions: async_sessionmaker[AsyncSession]) -> Decider:
    return Decider(sessions=sessions, rules=RULES, clock=ManualClock(),
                   directory=ApproverDirectory(lookup=group))


async def audit(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(row.actor, row.action, row.result) for row in rows]


async def test_an_approver_approves_once_and_it_is_audited(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored(sqlite_sessions, event("e1"))
    outcome = await decider(sqlite_sessions).decide(anomaly_id=anomaly_id,
                                                    action=Action.APPROVE, user_id="U0OWNER")
    assert outcome.verdict is Verdict.DECIDED and outcome.card
    assert outcome.card.state is State.APPROVED and outcome.card.decided_by == "U0OWNER"
    assert ("U0OWNER", "approve", "ok") in await audit(sqlite_sessions)


async def test_a_group_member_may_decide(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored(sqlite_sessions, event("e1"))
    outcome = await decider(sqlite_sessions).decide(anomaly_id=anomaly_id, action=Action.BLOCK,
                                                    user_id="U0MEMBER")
    assert outcome.verdict is Verdict.DECIDED


async def test_a_stranger_is_refused_and_nothing_changes(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored(sqlite_sessions, event("e1"))
    outcome = await decider(sqlite_sessions).decide(anomaly_id=anomaly_id,
                                                    action=Action.APPROVE, user_id="U0STRANGER")
    assert outcome.verdict is Verdict.REFUSED and "not an approver" in outcome.message
    async with sqlite_sessions() as session:
        row = await session.get(Anomaly, anomaly_id)
        assert row is not None and row.state == State.PENDING
    assert ("U0STRANGER", "approve", "refused") in await audit(sqlite_sessions)


async def test_concurrent_clicks_decide_exactly_once(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored(sqlite_sessions, event("e1"))
    judge = decider(sqlite_sessions)
    outcomes = await asyncio.gather(*(
        judge.decide(anomaly_id=anomaly_id, action=Action.APPROVE, user_id=user)
        for user in ("U0OWNER", "U0MEMBER", "U0OWNER", "U0MEMBER")))
    assert [o.verdict for o in outcomes].count(Verdict.DECIDED) == 1
    approvals = [a for a in await audit(sqlite_sessions) if a[1:] == ("approve", "ok")]
    assert len(approvals) == 1


async def test_a_blocked_flow_seen_again_is_retried_after_block(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored(sqlite_sessions, event("e1"))
    await decider(sqlite_sessions).decide(anomaly_id=anomaly_id, action=Action.BLOCK,
                                          user_id="U0OWNER")
    async with sqlite_sessions.begin() as session:
        result = await ingest(session, [parse_event(event("e2"))], rules=RULES,
                              now=datetime(2026, 11, 24, tzinfo=UTC))
    assert result.retried_after_block == [anomaly_id]
    async with sqlite_sessions() as session:
        row = await session.get(Anomaly, anomaly_id)
        assert row is not None and row.retried_after_block_at is not None
        assert row.state == State.BLOCKED and row.event_count == 2


async def test_repeats_of_a_known_flow_only_bump_its_counter(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    """Redeliveries never reach ingest (the consumer skips them by their stored offsets);
    what does is a new sighting of the flow."""
    anomaly_id = await stored(sqlite_sessions, *(event(f"e{i}") for i in range(100)))
    async with sqlite_sessions.begin() as session:
        again = await ingest(session, [parse_event(event("e100")), parse_event(event("e101"))],
                             rules=RULES, now=datetime(2026, 11, 23, tzinfo=UTC))
    assert again.repeated == [anomaly_id] and again.new_anomalies == []
    async with sqlite_sessions() as session:
        rows = (await session.execute(select(Anomaly))).scalars().all()
    assert [(r.id, r.event_count) for r in rows] == [(anomaly_id, 102)]
