"""A grouped card survives kill -9 while it is being built: ``chatbot serve`` dies right after
Slack took the group's first post (before recording it), more flows of the workload arrive
while it is down, the next life is killed with SIGKILL mid-stream, and after the last restart
the channel holds one group card showing every flow — none lost, no second message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from kubernetes_asyncio.client import ApiClient
from sqlalchemy import select

from chatbot.chaos import CRASH_AT_ENV, CRASH_EXIT_CODE
from chatbot.slack.ids import GROUP_EVENT_TYPE, ActionId
from chatbot.store.models import Anomaly, AuditEntry, CardGroup
from testbench.kube import KubeCluster
from tests.faults.conftest import FaultRun, FaultRunFactory
from tests.scenarios.harness import eventually, flow_event


async def send(run: FaultRun, events: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=run.broker.bootstrap)
    await producer.start()
    try:
        for event in events:
            await producer.send(run.topic, orjson.dumps(event))
        await producer.flush()
    finally:
        await producer.stop()


def turn_grouping_on(rules: Path) -> None:
    rules.write_text(rules.read_text() + "grouping: {window: 2m}\n")


def approve_rows(message: dict[str, Any]) -> list[str]:
    return [str(element["value"]) for block in message.get("blocks", [])
            if block.get("type") == "actions" for element in block["elements"]
            if element["action_id"] == ActionId.APPROVE.value]


async def test_kill_9_while_a_group_is_built_leaves_one_card_with_every_flow(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient, tmp_path: Path) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client, flows=1, lanes=1) as run:
        turn_grouping_on(Path(run.env["CHATBOT_CONFIG"]))
        [lane] = run.channels
        flows = [flow_event(client_ns=lane, target=f"api-{i}") for i in range(12)]

        service = run.service()
        service.start({CRASH_AT_ENV: "after_post#1"})  # dies once Slack took the post
        await service.listening()
        await send(run, flows[:6])
        assert await service.exited(within=60) == CRASH_EXIT_CODE
        assert "chaos: crashing at after_post" in service.this_life()

        await send(run, flows[6:9])  # the group grows while the service is down
        service.start()
        await service.listening()
        await send(run, flows[9:])
        service.kill()  # kill -9 in the middle of attaching and re-rendering

        service.start()
        await service.listening()

        async def complete() -> bool:
            messages = await run.standin.messages(lane)
            return len(messages) == 1 and len(approve_rows(messages[0])) == 12
        await eventually(complete, within=90, what="one group card with all 12 flows")

        [message] = await run.standin.messages(lane)
        assert message["metadata"]["event_type"] == GROUP_EVENT_TYPE
        assert len(await run.standin.calls("chat.postMessage")) == 1, "posted twice"
        async with run.sessions() as session:
            rows = list((await session.execute(select(Anomaly))).scalars())
            groups = list((await session.execute(select(CardGroup))).scalars())
            audit = list((await session.execute(
                select(AuditEntry.result).where(AuditEntry.action == "post"))).scalars())
        assert len(rows) == 12 and all(row.slack_ts is None for row in rows)
        [group] = [group for group in groups if group.size]
        assert {row.group_id for row in rows} == {group.id}
        assert group.slack_ts == message["ts"]
        assert set(approve_rows(message)) == {row.id for row in rows}
        assert "reconciled" in audit, "the lost post was found in the channel history"
        assert "Traceback" not in service.this_life()
