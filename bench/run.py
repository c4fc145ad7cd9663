"""``python -m bench.run [--quick]``: start the bench components, drive the real service and
print one table. Stages: 1 ingest vs the broker limit, 4 growth (child processes), 7 the Hubble
flood on the flows topic (bench/hubble.py), then one in-process bot for 2 alert compression,
5 time to first message and 3 decision latency; 6 grouped cards (messages per distinct flow,
grouping off and on) only when asked for with ``--only grouping``.

A stage that fails is reported as FAIL with its error and the run goes on."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import e2e, flows, grouping, hubble, ingest, shapes
from bench.bot import prepare_cluster, running_bot
from bench.report import Report, progress
from testbench import kafka, kube, postgres
from testbench.kafka import KafkaBroker
from testbench.kube import KubeCluster
from testbench.postgres import PostgresServer

OUT = Path(__file__).resolve().parent / "out"


@dataclass(frozen=True)
class Plan:
    flood_events: int = 200_000
    flood_flows: int = 1_000
    new_flows: int = 20_000
    raw_repeats: int = 3
    growth_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    alert_events: int = 200_000
    alert_flows: int = 1_000
    clicks: int = 200
    first_samples: int = 5
    hubble_records: int = 200_000
    hubble_flows: int = 1_000
    hubble_growth: int = 1_000_000


QUICK = Plan(raw_repeats=1, growth_sizes=(10_000, 100_000), alert_events=40_000,
             alert_flows=200, first_samples=3, hubble_growth=500_000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller alert flood (200 flows), no 1M growth step (~5 min)")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql",
                        help="database of the end-to-end bot (stages 2, 3, 5)")
    parser.add_argument("--channels", type=int, default=flows.CHANNELS,
                        help="Slack channels the bot's flows are routed to (stage 2)")
    parser.add_argument("--profile", action="store_true",
                        help="also record pyinstrument profiles of the SQLite ingest "
                             "(and of the Hubble flood's)")
    parser.add_argument("--only", choices=["ingest", "growth", "hubble", "bot", "grouping"],
                        action="append",
                        help="run only these stage groups (repeatable; grouping runs only "
                             "when named)")
    parser.add_argument("--consumers", type=int, default=1,
                        help="consumer processes in one group for the service's ingest "
                             "(stage 1), as `chatbot serve --consumers N` runs them")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    groups = set(args.only or ["ingest", "growth", "hubble", "bot"])
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    report = Report(command=command.strip())
    OUT.mkdir(parents=True, exist_ok=True)
    progress("starting Kafka and PostgreSQL from the test bench")
    broker = kafka.start()
    pg = postgres.start()
    try:
        if "ingest" in groups:
            _stage(report, "1", lambda: ingest.broker_limit(
                report, broker, pg, OUT, events=plan.flood_events, flow_count=plan.flood_flows,
                new_flows=plan.new_flows, repeats=plan.raw_repeats, profile=args.profile,
                consumers=args.consumers))
        if "growth" in groups:
            _stage(report, "4", lambda: ingest.growth(
                report, broker, OUT, sizes=list(plan.growth_sizes),
                flow_count=plan.flood_flows))
        if "hubble" in groups:
            _stage(report, hubble.SECTION, lambda: hubble.flood_stage(
                report, broker, pg, OUT, records=plan.hubble_records,
                distinct=plan.hubble_flows, growth_records=plan.hubble_growth,
                repeats=plan.raw_repeats,
                profile=OUT / "profile-hubble.txt" if args.profile else None))
        if "bot" in groups:
            progress("starting etcd + kube-apiserver from the test bench")
            cluster = kube.start()
            try:
                _stage(report, "2/3/5", lambda: asyncio.run(
                    _bot_stages(report, plan, broker, pg, cluster, args.db, args.channels)))
            finally:
                cluster.stop()
        if "grouping" in groups:
            _stage(report, "6", lambda: asyncio.run(
                _grouping_stage(report, broker, pg, args.db, args.channels)))
    finally:
        broker.stop()
        pg.stop()
    print(report.text())
    report.write(OUT)
    progress(f"table written to {OUT / 'results.md'}")
    return 0 if all(row.verdict != "FAIL" for row in report.rows) else 1


def _stage(report: Report, section: str, run: Callable[[], object]) -> None:
    try:
        run()
    except Exception as error:
        traceback.print_exc()
        report.add(section, "stage failed", f"{type(error).__name__}: {error}"[:160], ok=False)


async def _bot_stages(report: Report, plan: Plan, broker: KafkaBroker, pg: PostgresServer,
                      cluster: KubeCluster, db: str, channels: int) -> None:
    await prepare_cluster(cluster)
    with tempfile.TemporaryDirectory(dir=OUT) as workdir:
        url = (pg.create_database("bot") if db == "postgresql"
               else f"sqlite+aiosqlite:///{Path(workdir) / 'bot.db'}")
        progress(f"bot: the whole service in-process on {db}")
        async with running_bot(broker=broker, kube=cluster, database_url=url,
                               workdir=Path(workdir), channels=channels) as bot:
            report.notes.append(f"stages 2, 3, 5: the bot ran on {db}, flows routed to "
                                f"{channels} channels")
            cards = await e2e.alert_compression(bot, report, events=plan.alert_events,
                                                flow_count=plan.alert_flows,
                                                channels=channels, within=900)
            await e2e.first_message(bot, report, samples=plan.first_samples)
            await e2e.decision_latency(bot, report, cards, clicks=plan.clicks)


async def _grouping_stage(report: Report, broker: KafkaBroker, pg: PostgresServer, db: str,
                          channels: int) -> None:
    with tempfile.TemporaryDirectory(dir=OUT) as workdir:
        def database_url(name: str) -> str:
            return (pg.create_database(name) if db == "postgresql"
                    else f"sqlite+aiosqlite:///{Path(workdir) / name}.db")

        report.notes.append(f"stage 6: each flood on a fresh in-process bot on {db}, flows "
                            f"routed to {channels} channels, grouping off then "
                            f"{{window: {grouping.WINDOW}}}")
        await grouping.run(report, [("6 (a)", shapes.hostile(channels=channels)),
                                    ("6 (b)", shapes.rollout(channels=channels))],
                           grouping.bots(broker=broker, workdir=Path(workdir),
                                         channels=channels, database_url=database_url))


if __name__ == "__main__":
    sys.exit(main())
