"""The crash loop: ``chatbot serve`` as a real process, fed a stream of flow anomalies over
Kafka while a person approves some of the cards, killed again and again — by ``kill -9`` at
seeded random moments and at the service's chaos points (``chatbot/chaos.py``) — and
restarted each time. Then one last life with no chaos settles the backlog, and the tally
compares what Slack, the database and the cluster hold with what was sent.

Used by ``tests/faults/test_crash.py`` (a few lives) and ``python -m bench.faults`` (many).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes_asyncio.client import ApiClient

from chatbot.chaos import CRASH_AT_ENV, CRASH_EXIT_CODE, CRASH_MARKER
from chatbot.store.db import make_engine, make_sessions
from testbench.approver import Approver
from testbench.fault_run import ensure_namespaces, progress, service_env, wait_settled
from testbench.flow_stream import APPROVER, flow_set, produce, stream
from testbench.kafka import KafkaBroker
from testbench.service_process import ServiceProcess
from testbench.standin_process import start_standin
from testbench.tally import Tally, check_approvals, tally

# Each life ends one way, in this order (then round again): a plain kill -9 at a random
# moment, or death at one chaos point on a seeded pass — up to LAST_PASS[point] — so that
# it lands at a different moment each time yet surely lands. The apply points come first:
# the approval they interrupt waits out its 60 s lease while the other lives go on (and a
# card whose post they interrupt, its 30 s one).
SCHEDULE = ("before_apply", "after_apply", "after_post", "kill -9", "after_store")
LAST_PASS = {"after_store": 8, "after_post": 4, "before_apply": 2, "after_apply": 2}


@dataclass(frozen=True)
class CrashPlan:
    lives: int = 5  # lives that end in a crash; one more settles without chaos
    schedule: tuple[str, ...] = SCHEDULE  # how the lives end, round and round
    events: int = 2000
    flows: int = 120
    lanes: int = 12  # namespaces, each with its own Slack channel
    approve_every: int = 4  # flows 0, 4, 8, ... get approved
    seed: int = 7
    life_seconds: tuple[float, float] = (4.0, 11.0)  # a random kill lands in here
    chaos_life_seconds: float = 20.0  # an armed point that has not fired by then: kill -9
    stream_seconds: float = 45.0
    new_flows_until: float = 0.7  # share of the stream after which no new flow appears
    clicks_per_second: float = 2.0  # spreads the approvals over the lives
    settle_seconds: float = 150.0


@dataclass(frozen=True)
class Life:
    ending: str  # "kill -9", a chaos point, or "kill -9 (<point> armed, not reached)"
    seconds: float
    stored: int  # events stored by the end of this life (of all sent so far)
    sent: int


@dataclass
class CrashReport:
    plan: CrashPlan
    tally: Tally
    endings: Counter[str] = field(default_factory=Counter)
    lives: list[Life] = field(default_factory=list)
    clicks: int = 0
    settled: bool = False
    settle_seconds: float = 0.0  # the last life, from its start until it caught up
    final_exit: int | None = None
    stop_seconds: float = 0.0  # SIGTERM to exit, for the last life
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.settled and self.final_exit == 0 and self.tally.ok


@dataclass
class CrashBench:
    """What the loop runs against: the caller owns these and tears them down."""

    broker: KafkaBroker
    database_url: str
    kubeconfig: Path
    kube: ApiClient
    workdir: Path


async def run_crash_loop(bench: CrashBench, plan: CrashPlan) -> CrashReport:
    began = time.monotonic()
    dice = random.Random(plan.seed)
    flows = flow_set(f"crash-{uuid.uuid4().hex[:6]}", flows=plan.flows, lanes=plan.lanes)
    events = stream(flows, plan.events, seed=plan.seed, run=flows.prefix,
                    new_until=plan.new_flows_until)
    await ensure_namespaces(bench.kube, flows.lanes)
    standin = await start_standin(bench.workdir, channels=flows.lanes, users=[APPROVER])
    engine = make_engine(bench.database_url)
    try:
        rules = bench.workdir / "rules.yaml"
        rules.write_text(flows.rules_yaml())
        env = await service_env(broker=bench.broker, topic=f"{flows.prefix}-flows",
                                database_url=bench.database_url, kubeconfig=bench.kubeconfig,
                                standin=standin, rules=rules)
        service = ServiceProcess("crash-loop", env, log=bench.workdir / "service.log")
        report = CrashReport(plan=plan, tally=Tally())
        wanted = {f.anomaly_id: f for f in flows.flows if f.index % plan.approve_every == 0}
        approver = Approver(standin=standin, sessions=make_sessions(engine),
                            channels=flows.lanes, wanted=wanted,
                            clicks_per_second=plan.clicks_per_second,
                            events_url=lambda: service.events_url if service.alive() else None)
        quiet = asyncio.Event()
        producing = asyncio.create_task(produce(bench.broker.bootstrap,
                                                service.env["CHATBOT_KAFKA_TOPIC"], events,
                                                rate=plan.events / plan.stream_seconds))
        approving = asyncio.create_task(approver.run(quiet))
        try:
            for life in range(plan.lives):
                started = time.monotonic()
                ending = await _crash_once(service, plan.schedule[life % len(plan.schedule)],
                                           plan, dice)
                report.endings[ending] += 1
                report.lives.append(Life(ending, time.monotonic() - started,
                                         (await progress(make_sessions(engine))).stored,
                                         events.sent))
            started = time.monotonic()
            service.start()
            await service.listening()
            report.settled = await wait_settled(make_sessions(engine), events,
                                                producing=producing, approved=wanted,
                                                within=plan.settle_seconds)
            report.settle_seconds = time.monotonic() - started
            await producing
            quiet.set()
            await approving
            started = time.monotonic()
            report.final_exit = await service.stop(within=30.0)
            report.stop_seconds = time.monotonic() - started
        finally:
            quiet.set()
            for task in (producing, approving):
                task.cancel()
            await asyncio.gather(producing, approving, return_exceptions=True)
            if service.alive():
                service.kill()
        report.clicks = approver.clicks
        report.tally = await tally(database_url=bench.database_url, standin=standin,
                                   channels=flows.lanes, expected=events.counts,
                                   events_sent=events.sent)
        await check_approvals(report.tally, database_url=bench.database_url, kube=bench.kube,
                              approved=wanted)
        report.seconds = time.monotonic() - began
        return report
    finally:
        await engine.dispose()
        standin.stop()


async def _crash_once(service: ServiceProcess, ending: str, plan: CrashPlan,
                      dice: random.Random) -> str:
    """One life: start, then die at the armed chaos point or by kill -9; says how it died."""
    armed = ending != "kill -9"
    chaos = ({CRASH_AT_ENV: f"{ending}#{dice.randint(1, LAST_PASS[ending])}"} if armed
             else {})
    lifetime = plan.chaos_life_seconds if armed else dice.uniform(*plan.life_seconds)
    service.start(chaos)
    if await service.survives(lifetime):
        service.kill()
        return "kill -9" if not armed else f"kill -9 ({ending} armed, not reached)"
    code = service.returncode()
    fired = re.search(re.escape(CRASH_MARKER) + r"(\w+)", service.this_life())
    if code != CRASH_EXIT_CODE or fired is None:
        raise service.failure(f"exited with {code} on its own, not by a chaos point")
    return fired.group(1)
