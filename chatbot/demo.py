"""``chatbot demo``: the whole product on embedded defaults, with nothing external.

The composition root for a newcomer's machine: SQLite in the work directory instead of
PostgreSQL, no Redis, the bundled sample flows replayed through the same validation, dedup
and storage code as the Kafka consumer (:func:`ingest_lines`), ClientIntents YAML files in a
local git repository (one commit per approval) instead of the cluster, and the local review
page instead of Slack. Re-running on the same directory is safe: every sample event id is
already stored, so the replay is a no-op.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chatbot import logs
from chatbot.applier import Applier
from chatbot.approvers import ApproverDirectory
from chatbot.clock import Clock, SystemClock
from chatbot.config.rules import Approvers, Escalation, Rules
from chatbot.decisions import Decider
from chatbot.intents.committing import CommittingSink
from chatbot.pipeline.sources import LineTotals, ingest_lines
from chatbot.review import make_review_app
from chatbot.store import anomalies
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.migrate import upgrade

DEMO_USER = "U0DEMO"
"""The person the review page decides as: an approver for every namespace."""
SAMPLES = Path(__file__).with_name("samples") / "flows.jsonl"
REPLAY_BATCH = 8  # small batches so the progress line moves; the sample file is tiny


def demo_rules() -> Rules:
    everyone = Approvers(namespaces=("*",), users=frozenset({DEMO_USER}))
    return Rules(default_channel="flow-alerts", war_room_channel="war-room",
                 approvers=(everyone,), escalation=Escalation(war_room_approvers=everyone))


@dataclass
class Demo:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    rules: Rules
    clock: Clock
    database: Path
    intents_dir: Path
    applier: Applier
    decider: Decider
    review_app: web.Application

    async def replay(
        self, lines: Iterable[bytes], *, progress: Callable[[int, int], None] | None = None,
        dead_letter: Callable[[bytes, str], None] | None = None,
    ) -> LineTotals:
        return await ingest_lines(lines, sessions=self.sessions, rules=self.rules,
                                  clock=self.clock, batch_size=REPLAY_BATCH, progress=progress,
                                  dead_letter_sink=dead_letter or _print_dead_letter)

    async def anomaly_count(self) -> int:
        async with self.sessions() as session:
            return sum((await anomalies.count_by_state(session)).values())


@asynccontextmanager
async def open_demo(workdir: Path, *, clock: Clock | None = None) -> AsyncIterator[Demo]:
    """Build every part of the demo over ``workdir`` (created if missing); close on exit."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    root = await asyncio.to_thread(workdir.resolve)
    database, intents_dir = root / "chatbot.db", root / "intents"
    clock = clock or SystemClock()
    rules = demo_rules()
    engine = make_engine(f"sqlite+aiosqlite:///{database}")
    try:
        await upgrade(engine)
        sessions = make_sessions(engine)
        # A local git repository, one commit per approval: `git log` shows the history.
        sink = CommittingSink(intents_dir)
        applier = Applier(sessions=sessions, sink=sink, clock=clock)
        decider = Decider(sessions=sessions, rules=rules, clock=clock,
                          directory=ApproverDirectory(lookup=None),
                          on_decided=lambda _id, _state: applier.wake())
        review_app = make_review_app(sessions=sessions, decider=decider,
                                     intents_dir=intents_dir, user_id=DEMO_USER,
                                     read_only=False)
        try:
            yield Demo(engine=engine, sessions=sessions, rules=rules, clock=clock,
                       database=database, intents_dir=intents_dir, applier=applier,
                       decider=decider, review_app=review_app)
        finally:
            await sink.close()
    finally:
        await engine.dispose()


async def run_demo(*, workdir: Path, port: int, stop: asyncio.Event,
                   exit_after_replay: bool) -> int:
    logs.configure("WARNING", json_lines=False)
    started = time.monotonic()
    async with open_demo(workdir) as demo:
        runner = web.AppRunner(demo.review_app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError as error:
            await runner.cleanup()
            print(f"chatbot demo: cannot listen on 127.0.0.1:{port} ({error.strerror}); "
                  "pick another with --port", file=sys.stderr)
            return 1
        finished = asyncio.Event()
        applying = asyncio.create_task(demo.applier.run(finished), name="applier")
        try:
            await _replay_samples(demo)
            _print_where(demo, url=f"http://127.0.0.1:{_bound_port(runner, port)}/",
                         seconds=time.monotonic() - started, waiting=not exit_after_replay)
            if not exit_after_replay:
                await stop.wait()
        finally:
            finished.set()
            await applying
            await runner.cleanup()
    if not exit_after_replay:
        print("demo stopped; its state stays in", workdir, flush=True)
    return 0


async def _replay_samples(demo: Demo) -> None:
    lines = [line for line in SAMPLES.read_bytes().splitlines() if line.strip()]
    lead = f"replaying {len(lines)} sample events…"
    interactive = sys.stdout.isatty()

    def progress(done: int, _bad: int) -> None:
        if interactive:
            print(f"\r{lead} {done}/{len(lines)}", end="", flush=True)

    totals = await demo.replay(lines, progress=progress)
    anomalies = await demo.anomaly_count()
    seen = f"; {totals.redelivered} already-seen event ids ignored" if totals.redelivered else ""
    bad = f"; {totals.bad} bad lines skipped" if totals.bad else ""
    print(f"\r{lead} {totals.lines}/{len(lines)}, {anomalies} anomalies "
          f"({totals.new_anomalies} new{seen}{bad})", flush=True)


def _print_where(demo: Demo, *, url: str, seconds: float, waiting: bool) -> None:
    print(f"review page:   {url}  (you decide as {DEMO_USER}, an approver for every "
          f"namespace; ready in {seconds:.1f}s)")
    print(f"ClientIntents: {demo.intents_dir}/<workload>.<namespace>.yaml, written when you "
          "approve")
    print(f"history:       git -C {demo.intents_dir} log  (one commit per approval)")
    print(f"database:      {demo.database} (remove the folder to start over)")
    if waiting:
        print("Ctrl-C stops the demo.")
    sys.stdout.flush()


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    """The real port when ``--port 0`` let the system choose one."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked


def _print_dead_letter(line: bytes, reason: str) -> None:
    print(f"skipped a bad line ({reason}): {line[:120]!r}", file=sys.stderr)
