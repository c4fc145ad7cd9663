"""Graceful shutdown: SIGTERM while events stream in and a backlog of cards waits for
Slack's pace. The process finishes the batch it is storing and commits it, finishes the
Slack call it is making, leaves the rest in the database, and exits 0 within the bound a
Kubernetes pod gets; the next start resumes exactly where it stopped."""

from __future__ import annotations

import time

from kubernetes_asyncio.client import ApiClient

from testbench.kube import KubeCluster
from tests.faults.conftest import FaultRunFactory
from tests.pipeline.kafka_io import offsets

EXIT_BOUND = 10.0
PARTITIONS = 3


async def test_sigterm_mid_stream_commits_what_it_stored_exits_0_and_the_restart_resumes(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client, flows=64, lanes=4,
                         partitions=PARTITIONS) as run:
        service = run.service()
        service.start()
        await service.listening()
        events = run.stream(1600, new_until=0.3)  # every flow early: cards pile up per channel
        producing = run.produce(events, rate=150)
        await run.stored_at_least(600)

        asked = time.monotonic()
        service.terminate()
        code = await service.exited(within=30)
        took = time.monotonic() - asked
        assert code == 0, service.this_life()[-2000:]
        assert took < EXIT_BOUND, f"took {took:.1f}s to stop"
        assert "Traceback" not in service.this_life()
        committed, _ends = await offsets(run.broker.bootstrap, run.env["CHATBOT_KAFKA_GROUP"],
                                         run.topic, partitions=PARTITIONS)
        stored = await run.stored()
        assert sum(offset or 0 for offset in committed.values()) == stored, \
            "every stored event committed, and nothing committed that was not stored"

        service.start()
        await run.settled(events, producing=producing, within=90)
        assert await service.metric("events_redelivered_total") == 0
        result = await run.tally(events)
        assert result.ok, result.explain()
