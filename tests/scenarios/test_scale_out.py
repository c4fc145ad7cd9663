"""Scale-out: several service instances in one consumer group over PostgreSQL and Redis.

Escalations are compare-and-set, so "exactly once" would hold even with every replica
scanning; what Redis adds is that only one replica runs the timer at a time and another takes
over when it goes. The story checks that lease, so it fails if the Redis path is off."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from kubernetes_asyncio.client import ApiClient
from redis.asyncio import Redis

from testbench.slack import SlackStandin
from tests.scenarios.conftest import running_bot
from tests.scenarios.harness import eventually, flow_event
from tests.scenarios.test_escalation import rules, war_room_cards

LEASE_KEY = "chatbot:escalation-timer"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("bot_redis", ["redis"], indirect=True)
@pytest.mark.parametrize("bot_rules", [rules(pending_timeout="2s")], indirect=True)
async def test_one_replica_holds_the_escalation_timer_and_another_takes_over(
        bot_env: dict[str, str], bot_redis: str, slack_standin: SlackStandin,
        kube_admin_client: ApiClient, kube_namespace: str) -> None:
    redis = Redis.from_url(bot_redis)

    async def holder() -> bytes | str | None:
        return await redis.get(LEASE_KEY)

    async with AsyncExitStack() as first_alive:
        first = await first_alive.enter_async_context(
            running_bot(bot_env, slack_standin, kube_admin_client))

        async def leased() -> bool:
            return await holder() is not None
        await eventually(leased, what="the first replica to take the timer lease")
        first_token = await holder()
        async with running_bot(bot_env, slack_standin, kube_admin_client) as second:
            await first.send(*(flow_event(client_ns=kube_namespace, client=f"svc-{i}")
                               for i in range(4)))
            await war_room_cards(first, count=4)
            await asyncio.sleep(1.5)  # more timer ticks on both replicas
            assert await holder() == first_token, "the second replica never steals the lease"
            for anomaly in await first.anomalies():
                escalations = [a for a in await first.audit(anomaly.id) if a[1] == "escalate"]
                assert escalations == [("system", "escalate", "ok")]
            assert len(slack_standin.messages("flow-alerts")) == 4

            await first_alive.aclose()  # the leader goes; it resigns on the way out

            async def taken_over() -> bool:
                token = await holder()
                return token is not None and token != first_token
            await eventually(taken_over, what="the second replica to take over the lease")
            await second.send(flow_event(client_ns=kube_namespace, client="late"))
            await war_room_cards(second, count=5)
    await redis.aclose()
