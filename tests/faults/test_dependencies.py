"""Dependencies failing while events stream in: the Kafka broker crashes and comes back,
Slack throttles (429 with Retry-After) and fails (5xx), the apiserver goes away, the database
goes away. Each time the service says so on ``/readyz`` where readiness is at stake, backs
off, recovers by itself — the same process, never restarted — and loses or doubles nothing.

The apiserver and the database are stopped for real, so those stories get a cluster and a
PostgreSQL server of their own; the broker is the session's (it restarts on the same port
and data directory, and no other test runs meanwhile)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from kubernetes_asyncio.client import ApiClient
from sqlalchemy import func, select

from chatbot.store.models import Anomaly
from testbench import kube, postgres
from testbench.approver import Approver
from testbench.fault_run import ReadinessWatch
from testbench.fixtures.kube import kube_api_client
from testbench.flow_stream import Flow
from testbench.kube import KubeCluster
from testbench.kube_crd import CLIENTINTENTS_CRD, apply_crd
from testbench.postgres import PostgresServer
from testbench.service_process import ServiceProcess
from tests.faults.conftest import FaultRun, FaultRunFactory
from tests.scenarios.harness import eventually

OUTAGE_SECONDS = 3.0


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    server = postgres.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[KubeCluster]:
    cluster = kube.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def own_kube(own_cluster: KubeCluster) -> AsyncIterator[ApiClient]:
    async with kube_api_client(own_cluster.admin_kubeconfig) as api_client:
        await apply_crd(api_client, CLIENTINTENTS_CRD)
        yield api_client


async def started(run: FaultRun) -> ServiceProcess:
    service = run.service()
    service.start()
    await service.listening()
    await service.ready_is(True, within=30)
    await service.ready_is(True, check="kafka", within=30)  # reported, not part of "ready"
    return service


async def test_a_kafka_broker_crash_mid_stream_is_ridden_out(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client) as run:
        service = await started(run)
        events = run.stream(1000)
        async with ReadinessWatch(service) as watch:
            producing = run.produce(events, rate=100)
            await run.stored_at_least(300)
            await asyncio.to_thread(run.broker.restart, crash=True)
            await run.settled(events, producing=producing, within=90)
            await service.ready_is(True, within=30)
        # Kafka is reported, never gating: the pod kept taking Slack's requests throughout.
        assert "kafka" in watch.failed and "ready" not in watch.failed, watch.failed
        assert service.alive() and service.lives == 1
        result = await run.tally(events)
        assert result.ok, result.explain()


async def test_slack_throttling_and_failing_delays_cards_but_loses_and_doubles_none(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client) as run:
        service = await started(run)
        await run.standin.fail_next(12, status=429, retry_after=RETRY_AFTER)
        await run.standin.fail_next(12, status=503, retry_after=None)
        events = run.stream(600)
        async with ReadinessWatch(service) as watch:
            await run.settled(events, producing=run.produce(events, rate=100), within=90)
        # Slack answering at all (even "slow down" or "sorry") is no reason to take the
        # service out of the load balancer: clicks must still reach it.
        assert not watch.failed, watch.failed
        assert await service.metric("slack_calls_total", outcome="429") > 0
        assert await service.metric("slack_calls_total", outcome="503") > 0
        assert await waited_out_every_retry_after(run)
        result = await run.tally(events)
        assert result.ok, result.explain()


RETRY_AFTER = 2


async def waited_out_every_retry_after(run: FaultRun) -> bool:
    """After a 429 on a channel, the next call to that channel came Retry-After later."""
    calls = [c for c in await run.standin.calls() if c["params"].get("channel")]
    for i, call in enumerate(calls):
        if call["status"] != 429:
            continue
        channel = call["params"]["channel"]
        later = [c["at"] for c in calls[i + 1:] if c["params"].get("channel") == channel]
        if later and later[0] < call["at"] + RETRY_AFTER - 0.05:
            raise AssertionError(f"called #{channel} {later[0] - call['at']:.2f}s after a 429 "
                                 f"that said Retry-After: {RETRY_AFTER}")
    return True


async def test_the_apiserver_going_away_holds_approvals_until_it_is_back(
        fault_run: FaultRunFactory, postgres_url: str, own_cluster: KubeCluster,
        own_kube: ApiClient) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=own_cluster.admin_kubeconfig,
                         kube=own_kube, flows=24, lanes=6) as run:
        service = await started(run)
        events = run.stream(300)
        await run.settled(events, producing=run.produce(events, rate=100), within=60)
        approved = {f.anomaly_id: f for f in run.flows.flows if f.index % 2 == 0}
        first, rest = dict(list(approved.items())[:4]), dict(list(approved.items())[4:])
        async with ReadinessWatch(service) as watch, approving(run, service, first):
            await run.settled(events, approved=first, within=30)
            assert not watch.failed, watch.failed
            own_cluster.stop_apiserver()
            await service.ready_is(False, check="cluster", within=15)
            async with approving(run, service, rest):
                await anomalies_in_state(run, "apply_failed", len(rest), within=30)
                await asyncio.sleep(OUTAGE_SECONDS)  # the outage goes on; retries back off
                await asyncio.to_thread(own_cluster.start_apiserver)
                await run.settled(events, approved=approved, within=60)
            await service.ready_is(True, within=15)
        assert service.alive() and service.lives == 1
        result = await run.tally(events, kube=own_kube, approved=approved)
        assert result.ok, result.explain()
        assert result.applied == len(approved)


@asynccontextmanager
async def approving(run: FaultRun, service: ServiceProcess,
                    flows: dict[str, Flow]) -> AsyncIterator[Approver]:
    """A person clicking Approve on these flows' cards until they are decided."""
    approver = Approver(standin=run.standin, sessions=run.sessions, channels=run.channels,
                        wanted=flows, events_url=lambda: service.events_url,
                        clicks_per_second=10)
    done = asyncio.Event()
    task = asyncio.create_task(approver.run(done))
    try:
        yield approver
    finally:
        done.set()
        await task


async def anomalies_in_state(run: FaultRun, state: str, count: int, *, within: float) -> None:
    async def reached() -> bool:
        async with run.sessions() as session:
            found = await session.scalar(select(func.count()).select_from(Anomaly)
                                         .where(Anomaly.state == state))
        return (found or 0) >= count
    await eventually(reached, within=within, what=f"{count} anomalies {state}")


async def test_the_database_going_away_stalls_the_stream_and_loses_nothing(
        fault_run: FaultRunFactory, own_postgres: PostgresServer, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    database_url = own_postgres.create_database("outage")
    async with fault_run(database_url=database_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client) as run:
        service = await started(run)
        events = run.stream(900)
        async with ReadinessWatch(service) as watch:
            producing = run.produce(events, rate=100)
            await run.stored_at_least(300)
            await asyncio.to_thread(own_postgres.halt)
            await service.ready_is(False, check="database", within=15)
            await asyncio.sleep(OUTAGE_SECONDS)  # events keep arriving; storing them fails
            await asyncio.to_thread(own_postgres.launch)
            await service.ready_is(True, within=30)
            await run.settled(events, producing=producing, within=90)
        # The database is what failed: Slack is not blamed, and no task dies unnoticed.
        assert "database" in watch.failed and "slack" not in watch.failed, watch.failed
        assert "Task exception was never retrieved" not in service.this_life()
        assert service.alive() and service.lives == 1
        assert await service.metric("store_failures_total") > 0
        result = await run.tally(events)
        assert result.ok, result.explain()
