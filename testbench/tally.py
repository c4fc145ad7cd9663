"""After a fault run, count what the service left behind and compare it with what was sent:
card messages per anomaly in Slack (by message metadata), anomalies, event counts and audit
entries in the database, and approved targets in the cluster's ClientIntents.

Everything is read from the outside (the stand-in's control API, SQL, the apiserver), so the
same tally serves the pytest fault tests and ``python -m bench.faults``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from sqlalchemy import select

from chatbot.intents.document import target_entry
from chatbot.slack.ids import ESCALATION_EVENT_TYPE, METADATA_EVENT_TYPE
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.models import Anomaly, AuditEntry
from chatbot.store.offsets import events_stored
from testbench.flow_stream import APPROVER, Flow
from testbench.standin_process import StandinProcess

APPLIED_RESULTS = frozenset({"applied", "unchanged"})
STRAY = "(not a card)"


@dataclass
class Tally:
    events_sent: int = 0
    events_stored: int = 0
    anomalies_expected: int = 0
    anomalies_stored: int = 0
    cards_posted: int = 0
    duplicate_cards: int = 0
    missing_cards: int = 0
    miscounted: int = 0
    war_room_posts: int = 0
    approvals: int = 0
    applied: int = 0
    double_applies: int = 0
    reconciled_posts: int = 0  # cards found in channel history after their outcome was lost
    repeated_applies: int = 0  # approvals re-applied after a crash and found already written
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def explain(self) -> str:
        shown = self.problems[:20]
        more = len(self.problems) - len(shown)
        return "\n".join([*shown, *([f"... and {more} more"] if more else [])])

    def flag(self, problem: str) -> None:
        self.problems.append(problem)


async def cards_by_anomaly(standin: StandinProcess, channels: Iterable[str],
                           event_type: str = METADATA_EVENT_TYPE) -> Counter[str]:
    """Top-level messages carrying ``event_type`` metadata, counted per anomaly id; any
    other top-level message is counted under ``STRAY``."""
    found: Counter[str] = Counter()
    for channel in channels:
        for message in await standin.messages(channel):
            metadata = message.get("metadata") or {}
            if not _top_level(message):
                continue
            if metadata.get("event_type") == event_type:
                found[str(metadata["event_payload"]["anomaly_id"])] += 1
            else:
                found[STRAY] += 1
    return found


async def tally(*, database_url: str, standin: StandinProcess, channels: Iterable[str],
                expected: Mapping[str, int], events_sent: int,
                war_room: bool = False) -> Tally:
    """Compare the service's result with ``expected`` (anomaly id -> sum of event counts)."""
    result = Tally(events_sent=events_sent, anomalies_expected=len(expected))
    cards = await cards_by_anomaly(standin, channels)
    if strays := cards.pop(STRAY, 0):
        result.flag(f"{strays} top-level message(s) that are not cards")
    result.cards_posted = sum(cards.values())
    for anomaly_id, n in sorted(cards.items()):
        if n > 1:
            result.duplicate_cards += n - 1
            result.flag(f"anomaly {anomaly_id} has {n} card messages")
        if anomaly_id not in expected:
            result.flag(f"a card for {anomaly_id}, which no event described")
    for anomaly_id in sorted(set(expected) - set(cards)):
        result.missing_cards += 1
        result.flag(f"anomaly {anomaly_id} has no card message")
    if war_room:
        posts = await cards_by_anomaly(standin, ["war-room"], ESCALATION_EVENT_TYPE)
        posts.pop(STRAY, None)  # pointers to incident channels live there too
        result.war_room_posts = sum(posts.values())
        for anomaly_id, n in sorted(posts.items()):
            if n > 1:
                result.flag(f"anomaly {anomaly_id} has {n} war-room messages")
    engine = make_engine(database_url)
    try:
        async with make_sessions(engine)() as session:
            result.events_stored = await events_stored(session)
            stored = {anomaly_id: count for anomaly_id, count in await session.execute(
                select(Anomaly.id, Anomaly.event_count))}
    finally:
        await engine.dispose()
    result.anomalies_stored = len(stored)
    result.reconciled_posts = sum(1 for _, actor, action, outcome in await audit_entries(
        database_url) if (actor, action, outcome) == ("system", "post", "reconciled"))
    if result.events_stored != events_sent:
        result.flag(f"{events_sent} distinct events sent, {result.events_stored} stored")
    for anomaly_id in sorted(set(expected) | set(stored)):
        want, have = expected.get(anomaly_id, 0), stored.get(anomaly_id)
        if have != want:
            result.miscounted += 1
            result.flag(f"anomaly {anomaly_id}: event_count {have}, expected {want}")
    return result


async def audit_entries(database_url: str) -> list[tuple[str, str, str, str]]:
    """Every audit entry as (anomaly id, actor, action, result), oldest first."""
    engine = make_engine(database_url)
    try:
        async with make_sessions(engine)() as session:
            rows = await session.execute(
                select(AuditEntry.anomaly_id, AuditEntry.actor, AuditEntry.action,
                       AuditEntry.result).order_by(AuditEntry.id))
            return [(a, b, c, d) for a, b, c, d in rows]
    finally:
        await engine.dispose()


async def states(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    try:
        async with make_sessions(engine)() as session:
            rows = await session.execute(select(Anomaly.id, Anomaly.state))
            return {anomaly_id: state for anomaly_id, state in rows}
    finally:
        await engine.dispose()


async def check_approvals(result: Tally, *, database_url: str, kube: ApiClient,
                          approved: Mapping[str, Flow]) -> None:
    """Every approved flow is ``applied``, approved once in the audit, applied once, and its
    target is in its workload's single ClientIntents exactly once; nothing else is decided."""
    result.approvals = len(approved)
    audit = Counter(await audit_entries(database_url))
    for anomaly_id, state in sorted((await states(database_url)).items()):
        flow = approved.get(anomaly_id)
        if flow is None:
            if state not in ("pending", "escalated"):
                result.flag(f"anomaly {anomaly_id} is {state}, but nobody approved it")
            continue
        if state == "applied":
            result.applied += 1
        else:
            result.flag(f"approved anomaly {anomaly_id} is {state}, not applied")
        if (n := audit[(anomaly_id, APPROVER, "approve", "ok")]) != 1:
            result.flag(f"anomaly {anomaly_id} has {n} 'approve ok' audit entries")
        applies = sum(audit[(anomaly_id, "system", "apply", r)] for r in APPLIED_RESULTS)
        result.repeated_applies += audit[(anomaly_id, "system", "apply", "unchanged")]
        in_cluster = await _occurrences(kube, flow)
        if applies > 1 or in_cluster > 1:
            result.double_applies += 1
        if applies != 1 or in_cluster != 1:
            result.flag(f"anomaly {anomaly_id}: {applies} successful apply audit entries, "
                        f"target {in_cluster} time(s) in its ClientIntents")


async def _occurrences(kube: ApiClient, flow: Flow) -> int:
    """How often the flow's target appears in the client's ClientIntents (-1: several objects
    describe the workload, which the operator forbids)."""
    parsed = flow.parsed
    listed = await client.CustomObjectsApi(kube).list_namespaced_custom_object(
        "k8s.otterize.com", "v2beta1", parsed.client.namespace, "clientintents")
    mine = [item for item in listed["items"]
            if item["spec"]["workload"]["name"] == parsed.client.name]
    if len(mine) > 1:
        return -1
    targets: list[dict[str, Any]] = mine[0]["spec"].get("targets", []) if mine else []
    ((key, body),) = target_entry(parsed.client, parsed.target).items()
    if key == "internet":
        return sum(item["internet"].get("domains", []).count(body["domains"][0])
                   for item in targets if "internet" in item)
    same = [item[key] for item in targets if key in item and item[key]["name"] == body["name"]]
    detail = "http" if key != "kafka" else "topics"
    if not same or detail not in body:
        return len(same)
    return sum(1 for entry in same for part in entry.get(detail, []) if part == body[detail][0])


def _top_level(message: Mapping[str, Any]) -> bool:
    thread = message.get("thread_ts")
    return thread is None or thread == message.get("ts")
