"""Who decides an escalated flow: the war-room approvers, unless the rules keep the
namespace's approvers in; a refusal is audited with why, and nothing changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.clock import ManualClock
from chatbot.config.rules import Approvers, Escalation
from chatbot.decisions import Decider, Verdict
from chatbot.lifecycle import Action, State
from chatbot.store import anomalies
from tests.store.test_decisions import RULES, audit, event, group, stored

WAR_ROOM = replace(RULES, war_room_channel="war-room", escalation=Escalation(
    war_room_approvers=Approvers(users=frozenset({"U0RESPONDER"}))))


def decider(sessions: async_sessionmaker[AsyncSession], *, both: bool = False) -> Decider:
    rules = replace(WAR_ROOM, escalation=replace(
        WAR_ROOM.escalation, namespace_approvers_decide_escalated=both))
    return Decider(sessions=sessions, rules=rules, clock=ManualClock(),
                   directory=ApproverDirectory(lookup=group))


async def escalated(sessions: async_sessionmaker[AsyncSession], judge: Decider) -> str:
    anomaly_id = await stored(sessions, event("e1"))
    outcome = await judge.decide(anomaly_id=anomaly_id, action=Action.ESCALATE,
                                 user_id="U0OWNER")
    assert outcome.verdict is Verdict.DECIDED and outcome.card
    assert outcome.card.escalated_by == "U0OWNER" and outcome.card.escalation_reason is None
    return anomaly_id


@pytest.mark.parametrize("action", [Action.APPROVE, Action.BLOCK])
async def test_the_namespace_approver_is_refused_once_the_war_room_decides(
        sqlite_sessions: async_sessionmaker[AsyncSession], action: Action) -> None:
    judge = decider(sqlite_sessions)
    anomaly_id = await escalated(sqlite_sessions, judge)
    for user in ("U0OWNER", "U0MEMBER"):  # in person and through the approvers' group
        outcome = await judge.decide(anomaly_id=anomaly_id, action=action, user_id=user)
        assert outcome.verdict is Verdict.REFUSED
        assert "war-room approvers decide it now" in outcome.message
        assert (user, action.value, "refused") in await audit(sqlite_sessions)
    async with sqlite_sessions() as session:
        card = await anomalies.load_card(session, anomaly_id)
    assert card is not None and card.state is State.ESCALATED and card.decided_by is None

    outcome = await judge.decide(anomaly_id=anomaly_id, action=action, user_id="U0RESPONDER")
    assert outcome.verdict is Verdict.DECIDED and outcome.card
    assert outcome.card.decided_by == "U0RESPONDER"


async def test_the_switch_keeps_the_namespace_approver_deciding(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    judge = decider(sqlite_sessions, both=True)
    anomaly_id = await escalated(sqlite_sessions, judge)
    outcome = await judge.decide(anomaly_id=anomaly_id, action=Action.APPROVE,
                                 user_id="U0OWNER")
    assert outcome.verdict is Verdict.DECIDED and outcome.card
    assert outcome.card.state is State.APPROVED


async def test_a_war_room_approver_may_not_decide_a_flow_that_is_not_escalated(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    anomaly_id = await stored(sqlite_sessions, event("e1"))
    outcome = await decider(sqlite_sessions).decide(anomaly_id=anomaly_id,
                                                    action=Action.APPROVE,
                                                    user_id="U0RESPONDER")
    assert outcome.verdict is Verdict.REFUSED and "not an approver" in outcome.message
