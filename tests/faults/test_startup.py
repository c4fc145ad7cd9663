"""Start-up and the tasks' lives, against the real bench: ``chatbot serve`` started while
Kafka or PostgreSQL is down waits for it — one log line per retry, the backoff doubling up
to its cap, ``/readyz`` saying why — and picks it up when it comes, in the same process.
A consumer task that dies of an unexpected error stops the process with a non-zero exit
(Kubernetes restarts it), instead of leaving it up with nothing consuming. And with Kafka
gone from a running service in HTTP mode, clicks are still decided and applied: Kafka is
reported on ``/readyz`` but does not take the pod out of the Service.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import pytest
from kubernetes_asyncio.client import ApiClient

from chatbot.dependency import START_BACKOFF
from testbench import postgres
from testbench.fault_run import ReadinessWatch
from testbench.kube import KubeCluster
from testbench.postgres import PostgresServer
from testbench.service_process import ServiceProcess
from tests.faults.conftest import FaultRunFactory
from tests.faults.test_dependencies import anomalies_in_state, approving, started
from tests.scenarios.harness import eventually

RETRY = re.compile(r"^(?P<problem>.*); retry (?P<n>\d+) in (?P<delay>[\d.]+)s$")
RETRIES_SEEN = 4  # 0.5 + 1 + 2 + 4 s of backoff: long enough to see it double


@pytest.fixture(scope="module")
def late_postgres() -> Iterator[PostgresServer]:
    server = postgres.start()
    try:
        yield server
    finally:
        server.stop()


def retries(service: ServiceProcess, dependency: str) -> list[tuple[str, int, float]]:
    """(problem, retry number, delay) of each retry line this life logged for ``dependency``."""
    found = []
    for line in service.this_life().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("dependency") != dependency or entry["level"] != "warning":
            continue
        match = RETRY.match(entry["msg"])
        assert match, entry
        found.append((match["problem"], int(match["n"]), float(match["delay"])))
    return found


async def retried(service: ServiceProcess, dependency: str, times: int) -> None:
    async def enough() -> bool:
        if not service.alive():
            raise service.failure(f"exited while waiting for {dependency}")
        return len(retries(service, dependency)) >= times
    await eventually(enough, within=60, what=f"{times} retries for {dependency}")


def assert_capped_backoff(seen: list[tuple[str, int, float]], problem: str) -> None:
    """Retries numbered 1, 2, 3 … each after the backoff's delay (doubling, capped), all for
    the same reason."""
    assert [n for _, n, _ in seen] == list(range(1, len(seen) + 1)), seen
    assert [delay for _, _, delay in seen] == [START_BACKOFF.delay(n) for _, n, _ in seen]
    assert all(delay <= START_BACKOFF.cap for _, _, delay in seen)
    assert {why for why, _, _ in seen} == {problem}, seen


async def test_serve_started_while_kafka_is_down_consumes_once_it_is_up(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client) as run:
        await asyncio.to_thread(run.broker.stop)
        try:
            service = run.service()
            service.start()
            await service.listening()
            await retried(service, "kafka", RETRIES_SEEN)
            # Kafka down is no reason to refuse Slack's requests: ready, saying why not Kafka.
            seen = await service.readiness()
            assert seen is not None and seen["ready"] and not seen["kafka"], seen
            body = json.loads((await service.get("/readyz") or (0, b"{}"))[1])
            assert body["problems"]["kafka"].startswith(
                f"cannot reach Kafka at {run.broker.bootstrap}: no broker answered (retry ")
        finally:
            await asyncio.to_thread(run.broker.launch)
        await service.ready_is(True, check="kafka", within=60)
        events = run.stream(300)
        await run.settled(events, producing=run.produce(events, rate=200), within=60)
        assert service.alive() and service.lives == 1
        assert_capped_backoff(retries(service, "kafka"),
                              f"cannot reach Kafka at {run.broker.bootstrap}: no broker answered")
        result = await run.tally(events)
        assert result.ok, result.explain()


async def test_serve_started_while_the_database_is_down_starts_once_it_is_up(
        fault_run: FaultRunFactory, late_postgres: PostgresServer, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    database_url = late_postgres.create_database("late")
    async with fault_run(database_url=database_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client) as run:
        await asyncio.to_thread(late_postgres.halt)
        try:
            service = run.service()
            service.start()
            await service.listening(schema=False)
            await retried(service, "database", RETRIES_SEEN)
            answer = await service.get("/readyz")
            assert answer is not None and answer[0] == 503
            body = json.loads(answer[1])
            where = (f"127.0.0.1:{late_postgres.port} (postgresql+asyncpg://"
                     f"{postgres.USER}:***@127.0.0.1:{late_postgres.port}/late)")
            assert body["problems"]["database"].startswith(
                f"cannot reach the database at {where}"), body
            assert "connection refused (retry " in body["problems"]["database"]
            assert f":{postgres.PASSWORD}@" not in service.this_life()
        finally:
            await asyncio.to_thread(late_postgres.launch)
        await service.ready_is(True, within=60)
        events = run.stream(300)
        await run.settled(events, producing=run.produce(events, rate=200), within=60)
        assert service.alive() and service.lives == 1
        seen = retries(service, "database")
        assert_capped_backoff(seen, seen[0][0])
        result = await run.tally(events)
        assert result.ok, result.explain()


async def test_a_consumer_task_that_dies_stops_the_process_non_zero(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    """Exit non-zero, not a failing liveness probe: the restart is then immediate, where a
    probe would first need failureThreshold x periodSeconds (30 s in the chart) to notice."""
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client) as run:
        service = run.service()
        service.start({"CHATBOT_CHAOS_RAISE_AT": "after_store#2"})
        await service.listening()
        events = run.stream(400)
        producing = run.produce(events, rate=200)
        code = await service.exited(within=60)
        assert code == 1, service.this_life()
        life = service.this_life()
        assert "the consumer task died; stopping the service" in life
        assert "ChaosFault: chaos: raising at after_store (pass 2)" in life
        assert "chatbot serve: the consumer task ended unexpectedly" in life
        # What Kubernetes does next: start it again. Nothing was lost or doubled.
        service.start()
        await service.listening()
        await run.settled(events, producing=producing, within=60)
        result = await run.tally(events)
        assert result.ok, result.explain()


async def test_with_kafka_gone_clicks_are_still_decided_and_applied(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient, clientintents_crd: str) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client, flows=16, lanes=4) as run:
        service = await started(run)
        events = run.stream(200)
        await run.settled(events, producing=run.produce(events, rate=200), within=60)
        approved = {f.anomaly_id: f for f in run.flows.flows if f.index % 2 == 0}
        async with ReadinessWatch(service) as watch:
            await asyncio.to_thread(run.broker.stop)
            try:
                await service.ready_is(False, check="kafka", within=30)
                async with approving(run, service, approved):
                    await anomalies_in_state(run, "applied", len(approved), within=60)
                assert "ready" not in watch.failed and "kafka" in watch.failed, watch.failed
                assert watch.unanswered == 0
            finally:
                await asyncio.to_thread(run.broker.launch)
        await service.ready_is(True, check="kafka", within=60)
        assert service.alive() and service.lives == 1
        result = await run.tally(events, kube=kube_admin_client, approved=approved)
        assert result.ok, result.explain()
        assert result.applied == len(approved)


async def test_a_token_slack_refuses_keeps_the_pod_unready_saying_why(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    """Found at start, not at the first post: /readyz says Slack refuses the token, the
    process stays up retrying (a rotated Secret needs no crash loop to be noticed)."""
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client) as run:
        service = run.service()
        service.start({"CHATBOT_SLACK_BOT_TOKEN": "xoxb-not-the-one-slack-issued"})
        await service.listening()
        await retried(service, "slack", 3)
        answer = await service.get("/readyz")
        assert answer is not None and answer[0] == 503
        problem = json.loads(answer[1])["problems"]["slack"]
        assert problem.startswith("Slack refused CHATBOT_SLACK_BOT_TOKEN (invalid_auth) (retry ")
        assert service.alive()
        assert "xoxb-not-the-one" not in service.this_life()
