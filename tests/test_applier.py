"""The applier honours the retry contract of the errors a sink raises (ManualClock: time
moves only when the test says so)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.applier import Applier, backoff
from chatbot.approvers import ApproverDirectory
from chatbot.clock import ManualClock
from chatbot.decisions import Decider, Verdict
from chatbot.errors import PermanentError, TemporaryError
from chatbot.events.model import Target, Workload
from chatbot.intents.document import ApprovalNote
from chatbot.intents.sink import Applied
from chatbot.lifecycle import Action, State
from chatbot.store import anomalies
from tests.store.test_decisions import RULES, event, stored


class FlakySink:
    """A sink that refuses with the given errors, in order, then writes."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.attempts = 0

    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return Applied(object_ref=f"ClientIntents {client.namespace}/{client.name}",
                       changed=True, document={})

    async def close(self) -> None:
        return None


async def approved(sessions: async_sessionmaker[AsyncSession], clock: ManualClock) -> str:
    anomaly_id = await stored(sessions, event("e1"))
    decider = Decider(sessions=sessions, rules=RULES, clock=clock,
                      directory=ApproverDirectory(lookup=None))
    outcome = await decider.decide(anomaly_id=anomaly_id, action=Action.APPROVE,
                                   user_id="U0OWNER")
    assert outcome.verdict is Verdict.DECIDED
    return anomaly_id


async def state(sessions: async_sessionmaker[AsyncSession], anomaly_id: str) -> State:
    async with sessions() as session:
        card = await anomalies.load_card(session, anomaly_id)
    assert card is not None
    return card.state


async def test_the_applier_waits_the_delay_a_temporary_error_names(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock()
    anomaly_id = await approved(sqlite_sessions, clock)
    sink = FlakySink(TemporaryError("RBAC says no", delay=42.0))
    applier = Applier(sessions=sqlite_sessions, sink=sink, clock=clock)

    assert await applier.apply_due() == 1
    assert await state(sqlite_sessions, anomaly_id) is State.APPLY_FAILED
    clock.advance(41.0)  # far beyond the 1 s exponential backoff would have waited
    assert await applier.apply_due() == 0 and sink.attempts == 1
    clock.advance(1.0)
    assert await applier.apply_due() == 1 and sink.attempts == 2
    assert await state(sqlite_sessions, anomaly_id) is State.APPLIED


async def test_unknown_failures_back_off_and_permanent_ones_wait_an_hour(
        sqlite_sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock()
    anomaly_id = await approved(sqlite_sessions, clock)
    sink = FlakySink(RuntimeError("bug"), PermanentError("rejected by the schema"))
    applier = Applier(sessions=sqlite_sessions, sink=sink, clock=clock)

    assert await applier.apply_due() == 1
    clock.advance(backoff(1))
    assert await applier.apply_due() == 1 and sink.attempts == 2
    clock.advance(timedelta(minutes=59).total_seconds())
    assert await applier.apply_due() == 0
    clock.advance(60.0)
    assert await applier.apply_due() == 1
    assert await state(sqlite_sessions, anomaly_id) is State.APPLIED
