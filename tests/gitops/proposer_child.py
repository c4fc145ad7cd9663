"""The proposer as a process of its own, for the crash stories: built from CHATBOT_* settings
exactly as ``chatbot serve`` builds it, over the database at ``argv[1]``, passing until every
batch is settled or ``argv[2]`` seconds passed. A chaos point (CHATBOT_CHAOS_CRASH_AT) ends it
with ``os._exit(137)``, as kill -9 would."""

from __future__ import annotations

import asyncio
import sys
import time

from chatbot.clock import SystemClock
from chatbot.config.settings import settings_from_env
from chatbot.gitops.proposer import Proposer
from chatbot.intents.git_wiring import git_sink
from chatbot.store import proposals
from chatbot.store.db import make_engine, make_sessions


async def main(database_url: str, seconds: float) -> int:
    settings = settings_from_env()
    assert settings.git is not None
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    sink, _probe, close = await git_sink(settings)
    proposer = Proposer(sessions=sessions, sink=sink, clock=SystemClock(),
                        destination=settings.git.destination,
                        batch_seconds=settings.git.batch_seconds, poll_seconds=0)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            await proposer.step(poll=True)
            async with sessions() as session:
                pending = await proposals.in_state(
                    session, (proposals.COLLECTING, proposals.OPEN))
            only_open = all(batch.state == proposals.OPEN for batch in pending)
            if not pending or (only_open and "--until-settled" not in sys.argv):
                return 0
            await asyncio.sleep(0.5)
        return 3
    finally:
        await close()
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]))))
