"""Snoozing a stored flow: only its approvers may, two snoozes at once snooze once, nothing is
decided, and the snooze ends (audited, card re-rendered) when its time is up, when the flow's
severity rises, or when the flow is decided. The outbox runs against the Slack stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.clock import ManualClock
from chatbot.config.rules import Approvers, Rules
from chatbot.decisions import Decider
from chatbot.events.parse import parse_event
from chatbot.lifecycle import Action
from chatbot.slack.outbox import SlackOutbox
from chatbot.snooze import Snoozer
from chatbot.store.ingest import ingest
from chatbot.store.models import Anomaly, AuditEntry
from testbench.slack import SlackStandin

START = datetime(2026, 11, 23, 10, tzinfo=UTC)
RULES = Rules(default_channel="flow-alerts",
              approvers=(Approvers(namespaces=("rps",), users=frozenset({"U0OWNER"})),))


def event(event_id: str, *, severity: str = "medium") -> bytes:
    return orjson.dumps({
        "schema_version": 1, "event_id": event_id, "observed_at": "2026-11-23T10:00:00Z",
        "cluster": "prod", "client": {"name": "web", "namespace": "rps", "kind": "Deployment"},
        "target": {"type": "kubernetes", "name": "game-api", "namespace": "rps", "port": 8080,
                   "protocol": "TCP"}, "severity": severity})


async def store(sessions: async_sessionmaker[AsyncSession], clock: ManualClock,
                *raw: bytes) -> str:
    async with sessions.begin() as session:
        result = await ingest(session, [parse_event(r) for r in raw], rules=RULES,
                              now=clock.now())
    return (result.new_anomalies or result.repeated)[0]


async def nobody(_group: str) -> frozenset[str]:
    return frozenset()


async def row(sessions: async_sessionmaker[AsyncSession], anomaly_id: str) -> Anomaly:
    async with sessions() as session:
        found = await session.get(Anomaly, anomaly_id)
        assert found is not None
        return found


async def audit(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(r.actor, r.action, r.result) for r in rows]


def card_text(slack: SlackStandin) -> str:
    [card] = [m for m in slack.messages("flow-alerts") if not m.is_reply]
    return orjson.dumps(card.blocks).decode()


def parts(sessions: async_sessionmaker[AsyncSession], slack: SlackStandin,
          clock: ManualClock) -> tuple[Snoozer, SlackOutbox]:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    snoozer = Snoozer(sessions=sessions, rules=RULES, clock=clock,
                      directory=ApproverDirectory(lookup=nobody))
    return snoozer, SlackOutbox(sessions=sessions, client=client, clock=clock, rules=RULES)


async def deliver(outbox: SlackOutbox) -> None:
    await outbox.dispatch()
    await outbox.settle()


async def test_a_snooze_holds_counters_back_until_its_time_is_up(
        sqlite_sessions: async_sessionmaker[AsyncSession], slack_standin: SlackStandin) -> None:
    clock = ManualClock(START)
    snoozer, outbox = parts(sqlite_sessions, slack_standin, clock)
    anomaly_id = await store(sqlite_sessions, clock, event("e1"))
    await deliver(outbox)
    assert ":zzz:" not in card_text(slack_standin)

    refused = await snoozer.snooze(anomaly_id=anomaly_id, user_id="U0STRANGER",
                                   duration=timedelta(hours=1))
    assert not refused.snoozed and "not an approver" in refused.message
    outcome = await snoozer.snooze(anomaly_id=anomaly_id, user_id="U0OWNER",
                                   duration=timedelta(hours=1))
    assert outcome.snoozed and "Snoozed until" in outcome.message
    snoozed = await row(sqlite_sessions, anomaly_id)
    assert snoozed.state == "pending" and snoozed.version == 1  # nothing decided
    assert snoozed.snoozed_until == START + timedelta(hours=1)
    assert snoozed.snoozed_by == "U0OWNER"
    await deliver(outbox)
    assert ":zzz: Snoozed by <@U0OWNER>" in card_text(slack_standin)
    updates = len(slack_standin.calls("chat.update"))

    for minute in range(1, 6):  # sightings every 10 minutes: held back
        clock.advance(600)
        await store(sqlite_sessions, clock, event(f"e{minute + 1}"))
        await deliver(outbox)
    assert len(slack_standin.calls("chat.update")) == updates
    assert "1×" in card_text(slack_standin) and "6×" not in card_text(slack_standin)

    clock.advance(600)  # an hour has passed: the card comes back with its counters
    await deliver(outbox)
    assert len(slack_standin.calls("chat.update")) == updates + 1
    text = card_text(slack_standin)
    assert ":zzz:" not in text and "6×" in text
    assert (await row(sqlite_sessions, anomaly_id)).snoozed_until is None
    assert ("U0STRANGER", "snooze", "refused") in await audit(sqlite_sessions)
    assert ("U0OWNER", "snooze", "ok") in await audit(sqlite_sessions)
    assert ("system", "unsnooze", "expired") in await audit(sqlite_sessions)


async def test_a_rising_severity_ends_the_snooze_at_once(
        sqlite_sessions: async_sessionmaker[AsyncSession], slack_standin: SlackStandin) -> None:
    clock = ManualClock(START)
    snoozer, outbox = parts(sqlite_sessions, slack_standin, clock)
    anomaly_id = await store(sqlite_sessions, clock, event("e1"))
    await deliver(outbox)
    await snoozer.snooze(anomaly_id=anomaly_id, user_id="U0OWNER", duration=timedelta(days=1))
    await deliver(outbox)
    clock.advance(60)
    await store(sqlite_sessions, clock, event("e2", severity="critical"))
    await deliver(outbox)
    text = card_text(slack_standin)
    assert ":zzz:" not in text and "critical" in text
    assert ("system", "unsnooze", "severity_rose") in await audit(sqlite_sessions)


async def test_two_snoozes_at_once_snooze_once_and_a_decided_flow_cannot_be_snoozed(
        sqlite_sessions: async_sessionmaker[AsyncSession], slack_standin: SlackStandin) -> None:
    clock = ManualClock(START)
    snoozer, _ = parts(sqlite_sessions, slack_standin, clock)
    anomaly_id = await store(sqlite_sessions, clock, event("e1"))
    first = await snoozer.snooze(anomaly_id=anomaly_id, user_id="U0OWNER",
                                 duration=timedelta(hours=1))
    assert first.snoozed
    decider = Decider(sessions=sqlite_sessions, rules=RULES, clock=clock,
                      directory=ApproverDirectory(lookup=nobody))
    decided = await decider.decide(anomaly_id=anomaly_id, action=Action.BLOCK,
                                   user_id="U0OWNER")
    assert decided.card is not None  # a snooze never stands in a decision's way
    assert decided.card.state == "blocked"
    late = await snoozer.snooze(anomaly_id=anomaly_id, user_id="U0OWNER",
                                duration=timedelta(hours=1))
    assert not late.snoozed and "decided already" in late.message
