"""``chatbot revoke ID``: break-glass removal of an applied approval, without chat.

For when Slack is down or the approver cannot be reached: whoever runs the service's
configuration (database and cluster credentials) revokes by anomaly id (or the first
characters a card shows). It is the same state change and the same removal as a Revoke
click — the anomaly goes ``revoking`` with the operator and the required reason audited as a
break-glass action, then exactly the target that approval added is removed at once, keeping
what the workload's other applied approvals need, and the anomaly ends ``revoked``. If the
removal fails, the anomaly stays ``revoking`` and a running service retries it.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.applier import Applier
from chatbot.card import Card, clean_justification
from chatbot.clock import SystemClock
from chatbot.config.load import load_rules
from chatbot.config.rules import Rules
from chatbot.config.settings import Settings
from chatbot.decisions import revoke_changes, with_justification
from chatbot.errors import ConfigError
from chatbot.intents.wiring import intents_sink
from chatbot.lifecycle import Action, State
from chatbot.store import anomalies
from chatbot.store.audit import record
from chatbot.store.db import make_engine, make_sessions

MIN_PREFIX = 6
OUTCOME_WAIT_SECONDS = 30.0
"""How long to wait for the result when a running service removes the target first."""


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


async def revoke(settings: Settings, anomaly: str, *, reason: str, actor: str | None = None,
                 out: TextIO = sys.stdout) -> int:
    why = clean_justification(reason)
    if why is None:
        raise ConfigError("chatbot revoke needs --reason: a break-glass revoke is audited "
                          "with why it was done")
    if len(anomaly) < MIN_PREFIX:
        raise ConfigError(f"give at least {MIN_PREFIX} characters of the anomaly id")
    rules = load_rules(settings.config_path) if settings.config_path else Rules("flow-alerts")
    actor = actor or operator()
    clock = SystemClock()
    engine = make_engine(settings.database_url.reveal())
    try:
        sessions = make_sessions(engine)
        async with sessions() as session:
            found = await anomalies.find_id(session, anomaly)
        if len(found) != 1:
            print(f"chatbot revoke: {'no' if not found else 'more than one'} anomaly id "
                  f"starts with {anomaly!r}", file=out)
            return 1
        [anomaly_id] = found
        async with sessions.begin() as session:
            card = await anomalies.load_card(session, anomaly_id, rules=rules)
            assert card is not None
            if card.state is State.APPLIED and not await _mark(session, card, actor, why, clock):
                print("chatbot revoke: the anomaly changed meanwhile; run it again", file=out)
                return 1
        if card.state not in (State.APPLIED, State.REVOKING):
            print(f"chatbot revoke: {anomaly_id[:8]} is {card.state.replace('_', ' ')}; only "
                  "applied access can be revoked", file=out)
            return 1
        sink, _probe = await intents_sink(settings)
        try:
            done = await Applier(sessions=sessions, sink=sink, clock=clock).run_one(anomaly_id)
        finally:
            await sink.close()
        if done is not None and done.state is State.REVOKING and not done.apply_error:
            # A running service's applier took it first: wait for its result.
            done = await _outcome(sessions, anomaly_id, rules=rules)
    finally:
        await engine.dispose()
    return _report(done, anomaly_id, out)


async def _mark(session: AsyncSession, card: Card, actor: str, why: str,
                clock: SystemClock) -> bool:
    now = clock.now()
    changes = revoke_changes(actor, now)
    changes["state"] = State.REVOKING
    changes["justifications"] = with_justification(card, actor, Action.REVOKE, why)
    if not await anomalies.compare_and_set(session, card.anomaly_id, version=card.version,
                                           changes=changes):
        return False
    record(session, anomaly_id=card.anomaly_id, actor=actor, action=Action.REVOKE,
           result="ok", now=now,
           detail={"from": State.APPLIED, "to": State.REVOKING, "justification": why,
                   "break_glass": True})
    return True


async def _outcome(sessions: async_sessionmaker[AsyncSession], anomaly_id: str, *,
                   rules: Rules, seconds: float = OUTCOME_WAIT_SECONDS) -> Card | None:
    """The card once another process's removal ended (or failed once), None after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with sessions() as session:
            card = await anomalies.load_card(session, anomaly_id, rules=rules)
        if card is None or card.state is not State.REVOKING or card.apply_error:
            return card
        await asyncio.sleep(0.5)
    return None


def _report(card: Card | None, anomaly_id: str, out: TextIO) -> int:
    if card is not None and card.state is State.REVOKED:
        print(f"revoked {anomaly_id[:8]}: {card.revoke_result}", file=out)
        return 0
    if card is not None and card.apply_error:
        print(f"chatbot revoke: removing the target failed ({card.apply_error}); the anomaly "
              "stays revoking and a running service retries it", file=out)
    else:
        print("chatbot revoke: another process is removing it right now; its card will "
              "show the result", file=out)
    return 1
