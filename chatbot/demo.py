"""``chatbot demo``: the whole product on embedded defaults, with nothing external.

The composition root for a newcomer's machine: SQLite in the work directory instead of
PostgreSQL, no Redis, the bundled sample flows replayed through the same validation, dedup
and storage code as the Kafka consumer (:func:`ingest_lines`), ClientIntents YAML files in a
local git repository (one commit per approval, one per revoke) instead of the cluster, and
the local review page instead of Slack — with the escalator running, so critical and
compliance flows land in the page's war-room view, risk rules that ask for a confirmation, a
justification or a second approver (the page can switch between the demo's two approvers),
and Revoke on what was applied. Re-running on the same directory is safe: every sample event
id is already stored, so the replay is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chatbot import logs
from chatbot.applier import Applier
from chatbot.approvers import ApproverDirectory
from chatbot.clock import Clock, SystemClock
from chatbot.config.risk import DEFAULT_RISK, RiskRule
from chatbot.config.rules import Approvers, Escalation, Rules
from chatbot.decisions import Decider
from chatbot.escalation.escalator import Escalator
from chatbot.intents.committing import CommittingSink
from chatbot.intents.current import CurrentIntents
from chatbot.pipeline.sources import LineTotals, ingest_lines
from chatbot.review import make_review_app
from chatbot.store import anomalies
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.migrate import upgrade

DEMO_USER = "U0DEMO"
"""The person the review page decides as: an approver for every namespace."""
SECOND_USER = "U0DEMO2"
"""A second approver the page can switch to, for flows that need two."""
COMPLIANCE = ("pci-*",)
SAMPLES = Path(__file__).with_name("samples") / "flows.jsonl"
WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - names, not a bind
REPLAY_BATCH = 8  # small batches so the progress line moves; the sample file is tiny


def demo_rules() -> Rules:
    everyone = Approvers(namespaces=("*",), users=frozenset({DEMO_USER, SECOND_USER}))
    payment_data = RiskRule("payment card data", namespaces=COMPLIANCE, justification=True,
                            approvals=2)
    return Rules(default_channel="flow-alerts", war_room_channel="war-room",
                 approvers=(everyone,),
                 escalation=Escalation(war_room_approvers=everyone,
                                       compliance_namespaces=COMPLIANCE, timer_seconds=1.0),
                 risk=(*DEFAULT_RISK, payment_data))


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
    escalator: Escalator
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


def unusable_workdir(workdir: Path) -> str | None:
    """Why the demo could not keep its database and write ClientIntents files under
    ``workdir``, or None. Creates the folders (that is what the demo does next anyway) and
    writes and removes one probe file in each."""
    for folder in (workdir, workdir / "intents"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-check-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            return f"cannot write to {folder} ({error.strerror or error})"
    return None


def _page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in WILDCARDS else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"


@asynccontextmanager
async def open_demo(workdir: Path, *, clock: Clock | None = None,
                    extra_hosts: Collection[str] = ()) -> AsyncIterator[Demo]:
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
        current = CurrentIntents(read=sink.read, ttl=0.0)  # local files: always as they are
        applier = Applier(sessions=sessions, sink=sink, clock=clock)
        decider = Decider(sessions=sessions, rules=rules, clock=clock,
                          directory=ApproverDirectory(lookup=None),
                          on_decided=lambda _id, _state: applier.wake())
        escalator = Escalator(sessions=sessions, rules=rules, clock=clock)
        review_app = make_review_app(sessions=sessions, decider=decider,
                                     intents_dir=intents_dir, user_id=DEMO_USER,
                                     read_only=False, also_as=(SECOND_USER,),
                                     extra_hosts=extra_hosts,
                                     current_intents=current.targets)
        try:
            yield Demo(engine=engine, sessions=sessions, rules=rules, clock=clock,
                       database=database, intents_dir=intents_dir, applier=applier,
                       decider=decider, escalator=escalator, review_app=review_app)
        finally:
            await sink.close()
    finally:
        await engine.dispose()


async def run_demo(*, workdir: Path, port: int, stop: asyncio.Event,
                   exit_after_replay: bool, host: str = "127.0.0.1",
                   allow_hosts: Collection[str] = ()) -> int:
    logs.configure("WARNING", json_lines=False)
    started = time.monotonic()
    problem = await asyncio.to_thread(unusable_workdir, workdir)
    if problem is not None:  # the alternative is a demo whose every approval fails to apply
        print(f"chatbot demo: {problem}; pick another folder with --workdir", file=sys.stderr)
        return 2
    async with open_demo(workdir, extra_hosts=allow_hosts) as demo:
        runner = web.AppRunner(demo.review_app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            await runner.cleanup()
            print(f"chatbot demo: cannot listen on {host}:{port} ({error.strerror}); "
                  "pick another with --port (or --host)", file=sys.stderr)
            return 1
        finished = asyncio.Event()
        applying = asyncio.create_task(demo.applier.run(finished), name="applier")
        escalating = asyncio.create_task(demo.escalator.run(finished), name="escalator")
        try:
            await _replay_samples(demo)
            # Once now, so the first look at the page already has its war room; the timer
            # keeps checking from here (pending timeouts, retries after a block).
            escalated = await demo.escalator.check(None)
            if escalated:
                print(f"war room:      {escalated} flows escalated (critical, or in "
                      f"{', '.join(COMPLIANCE)})", flush=True)
            _print_where(demo, url=_page_url(host, _bound_port(runner, port)),
                         seconds=time.monotonic() - started, waiting=not exit_after_replay,
                         wildcard=host in WILDCARDS)
            if not exit_after_replay:
                await stop.wait()
        finally:
            finished.set()
            await asyncio.gather(applying, escalating)
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


def _print_where(demo: Demo, *, url: str, seconds: float, waiting: bool,
                 wildcard: bool) -> None:
    print(f"review page:   {url}  (you decide as {DEMO_USER} or {SECOND_USER}, approvers "
          f"for every namespace; ready in {seconds:.1f}s)")
    if wildcard:
        print("               (listening on every interface: the page answers at any address "
              "of this machine you connect to; behind a port mapping add --allow-host "
              "NAME:PORT as your browser shows it)")
    print("risk rules:    risky approvals ask first; payment data needs a justification and "
          "two approvers; Revoke takes an applied approval back")
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
