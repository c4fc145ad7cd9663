"""Scale-out under churn: replicas of ``chatbot serve`` over PostgreSQL and Redis join and
leave one consumer group while events stream in — one, then two, then three, one stopped
gracefully, one killed, one back — so partitions move again and again. No flow is posted
twice, no event is lost or counted twice, the escalation timer (a short ``pending_timeout``)
escalates every undecided flow exactly once, whoever holds its lease, and no replica's log
shows PostgreSQL's ``deadlock detected``."""

from __future__ import annotations

from collections import Counter

from kubernetes_asyncio.client import ApiClient
from sqlalchemy import func, select

from chatbot.store.models import Anomaly
from testbench.kube import KubeCluster
from testbench.tally import audit_entries
from tests.faults.conftest import FaultRun, FaultRunFactory
from tests.scenarios.harness import eventually

ESCALATION = "{pending_timeout: 4s, timer_interval: 0.5s}"
EVENTS = 1600


async def test_replicas_joining_and_leaving_mid_stream_post_and_escalate_each_flow_once(
        fault_run: FaultRunFactory, postgres_url: str, redis_url: str,
        kube_cluster: KubeCluster, kube_admin_client: ApiClient) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client, flows=24, lanes=6, escalation=ESCALATION,
                         partitions=6, redis_url=redis_url) as run:
        first, second, third = run.service("one"), run.service("two"), run.service("three")
        first.start()
        await first.listening()
        events = run.stream(EVENTS)
        producing = run.produce(events, rate=100)
        await run.stored_at_least(EVENTS // 8)
        second.start()  # two replicas
        await run.stored_at_least(EVENTS * 3 // 8)
        third.start()  # three
        await run.stored_at_least(EVENTS * 5 // 8)
        assert await second.stop(within=15) == 0  # a rolling update takes one away
        await run.stored_at_least(EVENTS * 6 // 8)
        third.kill()  # and a node dies under another
        second.start()
        await run.settled(events, producing=producing, within=90)
        await every_flow_escalated(run, within=60)

        result = await run.tally(events)
        assert result.ok, result.explain()
        assert result.war_room_posts == len(run.flows.flows)
        escalations = Counter(anomaly_id for anomaly_id, actor, action, outcome
                              in await audit_entries(run.database_url)
                              if (actor, action, outcome) == ("system", "escalate", "ok"))
        assert escalations == Counter({flow.anomaly_id: 1 for flow in run.flows.flows})
        assert first.alive() and second.alive()
        for replica in (first, second, third):  # rows are locked in one order by every replica
            assert "deadlock detected" not in replica.log.read_text(errors="replace")


async def every_flow_escalated(run: FaultRun, *, within: float) -> None:
    """Every flow escalated and its war-room message recorded."""
    async def done() -> bool:
        async with run.sessions() as session:
            return (await session.scalar(
                select(func.count()).select_from(Anomaly)
                .where(Anomaly.state == "escalated", Anomaly.war_room_ts.is_not(None)))
                or 0) == len(run.flows.flows)
    await eventually(done, within=within, what="every flow escalated to the war room")
