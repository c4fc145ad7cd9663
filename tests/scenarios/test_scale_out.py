"""Scale-out: several service instances in one consumer group over PostgreSQL and Redis."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio.client import ApiClient

from testbench.slack import SlackStandin
from tests.scenarios.conftest import running_bot
from tests.scenarios.harness import flow_event
from tests.scenarios.test_escalation import rules, war_room_cards


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("bot_redis", ["redis"], indirect=True)
@pytest.mark.parametrize("bot_rules", [rules(pending_timeout="2s")], indirect=True)
async def test_two_instances_sharing_redis_escalate_a_timed_out_flow_exactly_once(
        bot_env: dict[str, str], slack_standin: SlackStandin, kube_admin_client: ApiClient,
        kube_namespace: str) -> None:
    async with running_bot(bot_env, slack_standin, kube_admin_client) as first, \
            running_bot(bot_env, slack_standin, kube_admin_client):
        await first.send(*(flow_event(client_ns=kube_namespace, client=f"svc-{i}")
                           for i in range(4)))
        await war_room_cards(first, count=4)
        await asyncio.sleep(1.5)  # more timer ticks on both replicas
        assert len(await war_room_cards(first)) == 4
        for anomaly in await first.anomalies():
            escalations = [a for a in await first.audit(anomaly.id) if a[1] == "escalate"]
            assert escalations == [("system", "escalate", "ok")]
        assert len(slack_standin.messages("flow-alerts")) == 4
