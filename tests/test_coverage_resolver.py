"""Covered elsewhere, against a real database: a flow nobody decided resolves itself once a
ClientIntents written outside the bot allows it — audited once as the system, whoever else
looks at the same time — and a decision, an intent for something else or a different target
kind leaves it as it is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.clock import ManualClock
from chatbot.config.rules import Approvers, Rules
from chatbot.coverage_resolver import CoverageResolver
from chatbot.decisions import Decider, Verdict
from chatbot.events.parse import parse_event
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.lifecycle import Action, State
from chatbot.store import anomalies, groups, messages
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.ingest import ingest
from chatbot.store.migrate import upgrade
from chatbot.store.models import Anomaly, AuditEntry

OWNER = "U0OWNER"
RULES = Rules(default_channel="flow-alerts",
              approvers=(Approvers(namespaces=("*",), users=frozenset({OWNER})),))
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


def event(event_id: str, *, target: str = "game-api", kind: str = "Deployment",
          path: str = "/api/play") -> bytes:
    return orjson.dumps({
        "schema_version": 1, "event_id": event_id, "observed_at": "2026-11-23T10:00:00Z",
        "cluster": "prod", "client": {"name": "web", "namespace": "rps", "kind": "Deployment"},
        "target": {"type": "kubernetes", "name": target, "namespace": "rps", "kind": kind,
                   "port": 8080, "protocol": "TCP", "http": {"path": path, "method": "POST"}},
    })


def intents(name: str, *targets: dict[str, Any]) -> dict[str, Any]:
    """A ClientIntents for rps/web as a person writes one (v2beta1)."""
    return {"apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
            "metadata": {"name": name, "namespace": "rps"},
            "spec": {"workload": {"name": "web", "kind": "Deployment"},
                     "targets": list(targets)}}


GAME_API = {"kubernetes": {"name": "game-api"}}


async def stored(sessions: Sessions, *raw: bytes) -> list[str]:
    async with sessions.begin() as session:
        result = await ingest(session, [parse_event(r) for r in raw], rules=RULES, now=NOW)
    return result.new_anomalies


async def row(sessions: Sessions, anomaly_id: str) -> Anomaly:
    async with sessions() as session:
        found = await session.get(Anomaly, anomaly_id)
        assert found is not None
        return found


async def audit(sessions: Sessions, action: str = "covered") -> list[tuple[str, str, Any]]:
    async with sessions() as session:
        rows = (await session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                      .order_by(AuditEntry.id))).scalars()
        return [(entry.actor, entry.anomaly_id, entry.detail) for entry in rows]


class Resolved:
    """What ``on_resolved`` was told."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self, anomaly_id: str) -> None:
        self.ids.append(anomaly_id)


def resolver(sessions: Sessions, index: CoverageIndex,
             on_resolved: Resolved | None = None) -> CoverageResolver:
    return CoverageResolver(sessions=sessions, index=index, clock=ManualClock(NOW),
                            on_resolved=on_resolved or Resolved())


def decider(sessions: Sessions) -> Decider:
    async def no_groups(_group: str) -> frozenset[str]:
        return frozenset()
    return Decider(sessions=sessions, rules=RULES, clock=ManualClock(NOW),
                   directory=ApproverDirectory(lookup=no_groups))


async def test_a_pending_flow_an_intent_written_elsewhere_covers_resolves_itself_once(
        sqlite_sessions: Sessions) -> None:
    [pending] = await stored(sqlite_sessions, event("e1"))
    index, told = CoverageIndex(), Resolved()
    worker = resolver(sqlite_sessions, index, told)
    assert await worker.resolve() == []  # nothing covers it yet

    index.upsert(IntentRef("rps", "web-by-hand"), intents("web-by-hand", GAME_API))
    assert await worker.resolve() == [pending]
    covered = await row(sqlite_sessions, pending)
    assert covered.state == State.COVERED and covered.covered_by == "rps/web-by-hand"
    assert covered.version == 2 and covered.revision > covered.message_revision  # re-render
    assert await audit(sqlite_sessions) == [
        ("system", pending, {"intents": "rps/web-by-hand", "from": "pending", "to": "covered"})]
    assert told.ids == [pending]

    assert await worker.resolve() == []  # already resolved: not again, not audited again
    assert len(await audit(sqlite_sessions)) == 1 and told.ids == [pending]
    async with sqlite_sessions() as session:
        card = await anomalies.load_card(session, pending)
    assert card is not None and card.covered_by == "rps/web-by-hand" and card.actions == []


async def test_an_escalated_flow_is_covered_too_but_a_decided_one_is_left_as_decided(
        sqlite_sessions: Sessions) -> None:
    [approved] = await stored(sqlite_sessions, event("e1", path="/a"))
    [blocked] = await stored(sqlite_sessions, event("e2", path="/b"))
    [escalated] = await stored(sqlite_sessions, event("e3", path="/c"))
    people = decider(sqlite_sessions)
    for anomaly_id, action in ((approved, Action.APPROVE), (blocked, Action.BLOCK),
                               (escalated, Action.ESCALATE)):
        outcome = await people.decide(anomaly_id=anomaly_id, action=action, user_id=OWNER)
        assert outcome.verdict is Verdict.DECIDED
    index = CoverageIndex()
    index.upsert(IntentRef("rps", "web"), intents("web", GAME_API))

    assert await resolver(sqlite_sessions, index).resolve() == [escalated]
    assert (await row(sqlite_sessions, approved)).state == State.APPROVED
    assert (await row(sqlite_sessions, blocked)).state == State.BLOCKED
    assert (await row(sqlite_sessions, blocked)).covered_by is None
    assert [anomaly_id for _, anomaly_id, _ in await audit(sqlite_sessions)] == [escalated]

    # The card offers nothing more, and a late click is told why.
    late = await people.decide(anomaly_id=escalated, action=Action.APPROVE, user_id=OWNER)
    assert late.verdict is Verdict.STALE
    assert late.message == ("Nothing to do: ClientIntents `rps/web` now covers this flow; no "
                            "decision needed.")


@pytest.mark.parametrize("other", [
    {"kubernetes": {"name": "leaderboard"}},  # another target
    {"kubernetes": {"name": "game-api", "http": [{"path": "/api/scores", "methods": ["POST"]}]}},
    {"kubernetes": {"name": "game-api.other-ns"}},  # a namesake in another namespace
], ids=["other target", "other path", "other namespace"])
async def test_an_intent_that_allows_something_else_changes_nothing(
        sqlite_sessions: Sessions, other: dict[str, Any]) -> None:
    [pending] = await stored(sqlite_sessions, event("e1"))
    index, told = CoverageIndex(), Resolved()
    index.upsert(IntentRef("rps", "web"), intents("web", other))

    assert await resolver(sqlite_sessions, index, told).resolve() == []
    unchanged = await row(sqlite_sessions, pending)
    assert unchanged.state == State.PENDING and unchanged.version == 1
    assert await audit(sqlite_sessions) == [] and told.ids == []


async def test_a_stored_flow_to_another_kind_of_target_is_not_covered(
        sqlite_sessions: Sessions) -> None:
    [deployment] = await stored(sqlite_sessions, event("e1", target="db", kind="Deployment"))
    [statefulset] = await stored(sqlite_sessions, event("e2", target="db", kind="StatefulSet"))
    index = CoverageIndex()
    index.upsert(IntentRef("rps", "web"),
                 intents("web", {"kubernetes": {"name": "db", "kind": "StatefulSet"}}))

    assert await resolver(sqlite_sessions, index).resolve() == [statefulset]
    assert (await row(sqlite_sessions, deployment)).state == State.PENDING


async def test_a_flow_covered_before_its_card_went_out_never_gets_a_card_or_a_group(
        sqlite_sessions: Sessions) -> None:
    [covered] = await stored(sqlite_sessions, event("e1"))
    index = CoverageIndex()
    index.upsert(IntentRef("rps", "web"), intents("web", GAME_API))
    assert await resolver(sqlite_sessions, index).resolve() == [covered]
    [waiting] = await stored(sqlite_sessions, event("e2", target="leaderboard"))

    async with sqlite_sessions.begin() as session:
        due = await messages.due_cards(session, now=NOW, counters_due=NOW, limit=10)
        assert [anomaly_id for anomaly_id, _ in due] == [waiting]
        assert not await messages.claim_post(session, covered, now=NOW, until=NOW)
        # Grouped: the covered flow joins no group …
        await groups.attach_new(session, window=timedelta(minutes=5), rule_checked=False)
        assert (await row_in(session, covered)).group_id is None
        [(group_id, _)] = await groups.due(session, now=NOW, counters_due=NOW, limit=10)
        assert await groups.group_of(session, waiting) == group_id
    # … and a group whose every flow was covered before it went out is never posted.
    index.upsert(IntentRef("rps", "web"), intents("web", GAME_API,
                                                  {"kubernetes": {"name": "leaderboard"}}))
    assert await resolver(sqlite_sessions, index).resolve() == [waiting]
    async with sqlite_sessions() as session:
        assert await groups.due(session, now=NOW, counters_due=NOW, limit=10) == []


async def row_in(session: AsyncSession, anomaly_id: str) -> Anomaly:
    found = await session.get(Anomaly, anomaly_id)
    assert found is not None
    return found


async def test_a_decision_that_lands_first_wins(sqlite_sessions: Sessions) -> None:
    [pending] = await stored(sqlite_sessions, event("e1"))
    index, told = CoverageIndex(), Resolved()
    index.upsert(IntentRef("rps", "web"), intents("web", GAME_API))
    async with sqlite_sessions() as session:
        read = await anomalies.coverable(session)  # the resolver's read …

    outcome = await decider(sqlite_sessions).decide(anomaly_id=pending, action=Action.BLOCK,
                                                    user_id=OWNER)
    assert outcome.verdict is Verdict.DECIDED  # … a person blocks meanwhile …

    assert await resolver(sqlite_sessions, index, told).cover(read) == []  # … and wins
    assert (await row(sqlite_sessions, pending)).state == State.BLOCKED
    assert await audit(sqlite_sessions) == [] and told.ids == []


async def test_many_pages_of_undecided_flows_are_all_read(sqlite_sessions: Sessions) -> None:
    ids = await stored(sqlite_sessions, *(event(f"e{n}", path=f"/p{n}") for n in range(7)))
    index = CoverageIndex()
    index.upsert(IntentRef("rps", "web"), intents("web", GAME_API))
    worker = CoverageResolver(sessions=sqlite_sessions, index=index, clock=ManualClock(NOW),
                              page_size=3)
    assert sorted(await worker.resolve()) == sorted(ids)


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_replicas(request: pytest.FixtureRequest,
                       tmp_path: Path) -> AsyncIterator[tuple[Sessions, Sessions]]:
    """Two replicas' own engines on one database."""
    url = (f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("postgres_url")))
    engines = [make_engine(url), make_engine(url)]
    await upgrade(engines[0])
    try:
        yield make_sessions(engines[0]), make_sessions(engines[1])
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_replicas_resolving_at_once_audit_each_flow_once(
        two_replicas: tuple[Sessions, Sessions]) -> None:
    first, second = two_replicas
    ids = await stored(first, *(event(f"e{n}", path=f"/p{n}") for n in range(20)))
    index = CoverageIndex()
    index.upsert(IntentRef("rps", "web"), intents("web", GAME_API))
    told = Resolved()
    replicas = [resolver(first, index, told), resolver(second, index, told)]

    # Both read the same undecided flows before either writes: a real race on every row.
    async with first() as session:
        read = await anomalies.coverable(session)
    results = await asyncio.gather(*(replica.cover(read) for replica in replicas))
    assert sorted(results[0] + results[1]) == sorted(ids)
    # And two full passes at once, once more: nothing left to do, nothing audited twice.
    assert await asyncio.gather(*(replica.resolve() for replica in replicas)) == [[], []]
    audited = [anomaly_id for _, anomaly_id, _ in await audit(first)]
    assert sorted(audited) == sorted(ids) and sorted(told.ids) == sorted(ids)


async def test_a_burst_of_changes_wakes_one_pass_and_the_loop_resolves_what_appears(
        sqlite_sessions: Sessions) -> None:
    [pending] = await stored(sqlite_sessions, event("e1"))
    index, told = CoverageIndex(), Resolved()
    worker = CoverageResolver(sessions=sqlite_sessions, index=index, clock=ManualClock(NOW),
                              on_resolved=told, scan_seconds=3600, debounce_seconds=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await _until(lambda: worker.passes == 1)  # the pass at start
        for n in range(50):  # a re-list: one on_change per ClientIntents
            ref = IntentRef("rps", f"intents-{n}")
            index.upsert(ref, intents(ref.name, GAME_API if n == 49 else {
                "kubernetes": {"name": f"other-{n}"}}))
            await worker.changed(ref, None)
        await _until(lambda: told.ids == [pending])
        await asyncio.sleep(0.5)
        assert worker.passes == 2
        assert (await row(sqlite_sessions, pending)).covered_by == "rps/intents-49"
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)


async def _until(condition: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
