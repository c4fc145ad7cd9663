"""The fault report: the crash loop of ``tests/faults/test_crash.py`` run for as many lives as
asked, on a bench of its own, ending in one table — events sent, anomalies expected, card
messages posted, duplicates and losses (goal 0 and 0), approvals applied and applied twice.

    .venv/bin/python -m bench.faults --iterations 20 [--seed 7] [--events N] [--flows N]

An iteration is one life of ``chatbot serve`` that ends in a crash: ``kill -9`` at a seeded
random moment, or death at a chaos point (a batch stored but not committed, a card posted
but not recorded, a decision not yet written to the cluster, a write not yet recorded).
Exits 1 if anything was lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from contextlib import ExitStack

from kubernetes_asyncio import config

from testbench import kafka, kube, postgres
from testbench.crash_loop import CrashBench, CrashPlan, CrashReport, run_crash_loop
from testbench.kube_crd import CLIENTINTENTS_CRD, apply_crd
from testbench.paths import fresh_workdir
from testbench.process import progress

SECONDS_PER_LIFE = 10.0  # about what a life lasts: the stream goes on as long as the crashes
APPROVE_EVERY = 4


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--iterations", type=int, default=20, help="lives that end in a crash")
    top.add_argument("--seed", type=int, default=7)
    top.add_argument("--events", type=int, help="events to send (default 200 per iteration)")
    top.add_argument("--flows", type=int, default=150, help="distinct flows among them")
    top.add_argument("--lives", action="store_true", help="also list every life")
    return top


def plan_from(args: argparse.Namespace) -> CrashPlan:
    """Spread the new flows and the approvals over all the lives, so the later lives still
    find cards to post and approvals to apply when their chaos point is armed."""
    lives = max(1, args.iterations)
    seconds = SECONDS_PER_LIFE * lives
    approvals = -(-args.flows // APPROVE_EVERY)
    return CrashPlan(lives=lives, events=args.events or 200 * lives, flows=args.flows,
                     lanes=15, approve_every=APPROVE_EVERY, seed=args.seed,
                     stream_seconds=seconds, new_flows_until=0.9,
                     clicks_per_second=approvals / seconds, settle_seconds=240.0)


async def measure(plan: CrashPlan) -> CrashReport:
    progress("starting Kafka, PostgreSQL and etcd + kube-apiserver for the fault report")
    with ExitStack() as stack:
        broker = kafka.start()
        stack.callback(broker.stop)
        database = postgres.start()
        stack.callback(database.stop)
        cluster = kube.start()
        stack.callback(cluster.stop)
        workdir = fresh_workdir("faults")
        api = await config.new_client_from_config(config_file=str(cluster.admin_kubeconfig),
                                                  persist_config=False)
        try:
            await apply_crd(api, CLIENTINTENTS_CRD)
            bench = CrashBench(broker=broker, database_url=database.create_database("faults"),
                               kubeconfig=cluster.admin_kubeconfig, kube=api, workdir=workdir)
            progress(f"crash loop: {plan.lives} lives, {plan.events} events over "
                     f"{plan.flows} flows; service log in {workdir / 'service.log'}")
            return await run_crash_loop(bench, plan)
        finally:
            await api.close()


def table(report: CrashReport, *, verbose: bool = False) -> str:
    tally, plan = report.tally, report.plan
    losses = tally.missing_cards + max(0, tally.events_sent - tally.events_stored)
    rows = [
        ("iterations (crashes)", sum(report.endings.values())),
        ("events sent", tally.events_sent),
        ("events stored", tally.events_stored),
        ("anomalies expected", tally.anomalies_expected),
        ("messages posted", tally.cards_posted),
        ("duplicates", tally.duplicate_cards),
        ("losses", losses),
        ("miscounted anomalies", tally.miscounted),
        ("approvals", tally.approvals),
        ("approvals applied", tally.applied),
        ("double applies", tally.double_applies),
        ("approve clicks sent", report.clicks),
        ("posts reconciled", tally.reconciled_posts),
        ("re-applies (no-op)", tally.repeated_applies),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"fault report: {plan.lives} iterations, seed {plan.seed}, {report.seconds:.0f}s; "
             f"the last life ran {report.settle_seconds:.0f}s (to the end of the stream and "
             f"caught up), SIGTERM -> exit {report.final_exit} in {report.stop_seconds:.1f}s",
             *(f"  {name:<{width}}  {value:>6}" for name, value in rows)]
    if verbose:
        lines += ["  life  ended by                                  seconds  stored/sent",
                  *(f"  {n:>4}  {life.ending:<42} {life.seconds:>7.1f}  "
                    f"{life.stored}/{life.sent}" for n, life in enumerate(report.lives, 1))]
    lines.append("  how each life ended: " + ", ".join(
        f"{ending} ×{count}" for ending, count in sorted(report.endings.items())))
    lines.append("  result: " + ("OK — nothing lost, nothing twice" if report.ok else
                                 "PROBLEMS\n" + tally.explain()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    report = asyncio.run(measure(plan_from(args)))
    print(table(report, verbose=args.lives))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
