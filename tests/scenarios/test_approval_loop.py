"""The approval loop, end to end: Kafka anomaly → Slack card → signed click → ClientIntents."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.slack.ids import ActionId, BlockId
from testbench.kafka import KafkaBroker
from testbench.process import free_port
from testbench.slack import SlackStandin
from testbench.slack.signing import block_actions_payload
from tests.scenarios.conftest import running_bot
from tests.scenarios.harness import OWNER, STRANGER, Bot, eventually, flow_event


def buttons(blocks: list[dict[str, object]]) -> list[str]:
    """The decision buttons (the snooze buttons sit in a block of their own)."""
    return [str(e["action_id"]) for b in blocks if b["type"] == "actions"
            and b.get("block_id") != BlockId.SNOOZE
            for e in b["elements"]]  # type: ignore[attr-defined]


async def test_an_event_on_kafka_becomes_one_card_in_the_routed_channel(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace,
                              http={"path": "/api/play", "method": "POST"}))
    [anomaly] = await bot.card_posted()
    [message] = bot.slack.messages("flow-alerts")
    shown = json.dumps(message.blocks)
    assert f"{kube_namespace}/web" in shown and "game-api" in shown
    assert "POST /api/play" in shown and "8080/TCP" in shown
    assert buttons(message.blocks) == [ActionId.APPROVE, ActionId.BLOCK, ActionId.ESCALATE]
    assert message.ts == anomaly.slack_ts


async def test_the_same_flow_a_hundred_times_is_still_one_card_counting_100(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(*(flow_event(client_ns=kube_namespace) for _ in range(100)))

    async def counted() -> bool:
        rows = await bot.anomalies()
        return len(rows) == 1 and rows[0].event_count == 100
    await eventually(counted, what="100 events folded into one anomaly")
    await bot.card_posted()
    await asyncio.sleep(0.5)
    assert len(bot.slack.messages("flow-alerts")) == 1
    assert len(bot.slack.calls("chat.postMessage")) == 1
    assert bot.service.pipeline is not None
    consumer = bot.service.pipeline.kafka_consumer

    async def committed() -> bool:
        parts = consumer.assignment()
        ends = await consumer.end_offsets(list(parts))
        return all([await consumer.committed(tp) == ends[tp] for tp in parts])
    await eventually(committed, what="offsets committed to the end")


async def test_approve_writes_client_intents_and_keeps_other_targets(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, target="game-api"))
    [first] = await bot.card_posted()
    assert await bot.click(first, ActionId.APPROVE) == 200
    await bot.state_is(first.id, "applied")
    [intents] = await bot.client_intents(kube_namespace)
    assert intents["spec"]["workload"]["name"] == "web"
    assert {"kubernetes": {"name": "game-api", "kind": "Deployment"}} in intents["spec"]["targets"]
    assert intents["metadata"]["labels"]["app.kubernetes.io/managed-by"]

    # someone else adds a target by hand; our next approval must keep it
    intents["spec"]["targets"].append({"kubernetes": {"name": "hand-written"}})
    await client.CustomObjectsApi(bot.kube).replace_namespaced_custom_object(
        "k8s.otterize.com", "v2beta1", kube_namespace, "clientintents",
        intents["metadata"]["name"], intents)

    await bot.send(flow_event(client_ns=kube_namespace, target="leaderboard"))
    posted = await bot.card_posted(count=2)
    [second] = [a for a in posted if a.id != first.id]
    assert await bot.click(second, ActionId.APPROVE) == 200
    await bot.state_is(second.id, "applied")
    [intents] = await bot.client_intents(kube_namespace)
    names = [t.get("kubernetes", {}).get("name") for t in intents["spec"]["targets"]]
    assert names == ["game-api", "hand-written", "leaderboard"]

    async def updated() -> bool:
        [message, _] = bot.slack.messages("flow-alerts")
        # decided: only Revoke is left to do
        return ("Approved" in json.dumps(message.blocks)
                and buttons(message.blocks) == [ActionId.REVOKE])
    await eventually(updated, what="the first card updated with the decision")


async def test_block_writes_nothing_and_a_retry_is_flagged(bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.BLOCK) == 200
    await bot.state_is(anomaly.id, "blocked")
    await bot.send(flow_event(client_ns=kube_namespace))

    async def flagged() -> bool:
        row = await bot.anomaly(anomaly.id)
        shown = json.dumps(bot.slack.messages("flow-alerts")[0].blocks)
        return row.retried_after_block_at is not None and "Retried after block" in shown
    await eventually(flagged, what="retried after block shown")
    assert await bot.client_intents(kube_namespace) == []
    assert len(bot.slack.messages("flow-alerts")) == 1
    # the retry re-opens the decision for the war room (escalation)
    assert (await bot.state_is(anomaly.id, "escalated")).escalation_trigger == \
        "retried-after-block"


async def test_a_non_approver_is_refused_and_audited(bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.APPROVE, user=STRANGER) == 200

    async def told() -> bool:
        return any(e.user == STRANGER for e in bot.slack.ephemerals())
    await eventually(told, what="an ephemeral refusal")
    assert (STRANGER, "approve", "refused") in await bot.audit(anomaly.id)
    assert (await bot.anomaly(anomaly.id)).state == "pending"
    assert await bot.client_intents(kube_namespace) == []


@pytest.mark.parametrize("fault", ["bad secret", "six minutes old"])
async def test_a_forged_or_stale_request_is_rejected(
        bot: Bot, kube_namespace: str, fault: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    if fault == "bad secret":
        status = await bot.click(anomaly, ActionId.APPROVE, secret="not-the-secret")
    else:
        status = await bot.click(anomaly, ActionId.APPROVE, timestamp=int(time.time()) - 360)
    assert status == 401
    await asyncio.sleep(0.3)
    assert (await bot.anomaly(anomaly.id)).state == "pending"
    assert not [a for a in await bot.audit(anomaly.id) if a[1] == "approve"]


async def test_two_concurrent_approvals_write_once(bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    statuses = await asyncio.gather(*(bot.click(anomaly, ActionId.APPROVE) for _ in range(2)))
    assert statuses == [200, 200]
    await bot.state_is(anomaly.id, "applied")
    await asyncio.sleep(0.5)
    audit = await bot.audit(anomaly.id)
    assert [a for a in audit if a[1:] == ("approve", "ok")] == [("U0OWNER", "approve", "ok")]
    assert [a for a in audit if a[1] == "apply"] == [("system", "apply", "applied")]


async def test_text_that_looks_like_a_mention_mentions_nobody(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace,
                              http={"path": "/<!channel>/<@U024BE7LH>", "method": "GET"}))
    await bot.card_posted()
    [message] = bot.slack.messages("flow-alerts")
    shown = json.dumps(message.blocks) + (message.text or "")
    assert "<!channel>" not in shown and "<@U024BE7LH>" not in shown
    assert "&lt;!channel&gt;" in shown


@pytest.mark.parametrize("bot_kubeconfig", ["powerless"], indirect=True)
async def test_a_refused_cluster_write_shows_in_the_thread_and_is_retried(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    failed = await bot.state_is(anomaly.id, "apply_failed")
    assert failed.apply_error and "forbidden" in failed.apply_error

    async def explained() -> bool:
        replies = [c for c in bot.slack.calls("chat.postMessage")
                   if c.params.get("thread_ts") == anomaly.slack_ts]
        card = json.dumps(bot.slack.messages("flow-alerts")[0].blocks)
        return (bool(replies) and "forbidden" in str(replies[0].params["text"])
                and "failed (attempt" in card)
    await eventually(explained, what="the failure shown in the thread and on the card")

    rbac = client.RbacAuthorizationV1Api(bot.kube)
    await rbac.create_namespaced_role(kube_namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="intents-writer"),
        rules=[client.V1PolicyRule(api_groups=["k8s.otterize.com"], resources=["clientintents"],
                                   verbs=["get", "list", "create", "update", "patch"])]))
    await rbac.create_namespaced_role_binding(kube_namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="intents-writer"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="intents-writer"),
        subjects=[client.RbacV1Subject(kind="User", name="flow-bot-powerless",
                                       api_group="rbac.authorization.k8s.io")]))
    await bot.state_is(anomaly.id, "applied", within=30)
    assert len(await bot.client_intents(kube_namespace)) == 1


async def test_health_readiness_and_metrics_are_served(bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    await bot.card_posted()
    base = bot.url.removesuffix("/slack/events")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{base}/readyz") as response:
            body = await response.json()
            assert response.status == 200, body
            assert body["checks"] == {"database": True, "slack": True, "kafka": True,
                                      "cluster": True, "coverage": True}
        async with http.get(f"{base}/metrics") as response:
            metrics = await response.text()
    assert "events_consumed_total 1.0" in metrics
    assert 'slack_calls_total{method="chat.postMessage",outcome="ok"} 1.0' in metrics
    assert 'anomalies{state="pending"} 1.0' in metrics


async def test_events_a_sensor_sends_again_are_counted_once(
        bot: Bot, kube_namespace: str) -> None:
    """A record Kafka delivers again is skipped by the offsets stored with the results; an
    event a sensor sends twice is dropped by the window of recent event ids of its
    partition — so the sensor keys its events (``chatbot produce`` keys by workload)."""
    key = f"{kube_namespace}/web".encode()
    events = [flow_event(client_ns=kube_namespace) for _ in range(10)]
    await bot.send(*events, key=key)

    def counted(n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            rows = await bot.anomalies()
            return len(rows) == 1 and rows[0].event_count == n
        return check
    await eventually(counted(10), what="10 events stored")
    await bot.send(*events[:5], key=key)  # sent again
    await bot.send(flow_event(client_ns=kube_namespace), key=key)
    await eventually(counted(11), what="only the new event counted")
    await bot.send(*events, key=key)
    await bot.send(flow_event(client_ns=kube_namespace), key=key)
    await eventually(counted(12), what="only the new event counted again")


async def test_serve_can_show_a_read_only_dashboard(
        bot_env: dict[str, str], slack_standin: SlackStandin, kube_admin_client: ApiClient,
        kube_namespace: str) -> None:
    port = free_port()
    env = {**bot_env, "CHATBOT_DASHBOARD_PORT": str(port)}
    async with running_bot(env, slack_standin, kube_admin_client) as dashboard_bot:
        await dashboard_bot.send(flow_event(client_ns=kube_namespace))
        [anomaly] = await dashboard_bot.card_posted()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/anomalies") as response:
                assert response.status == 200
                assert anomaly.id in await response.text()
            async with http.post(f"http://127.0.0.1:{port}/api/anomalies/{anomaly.id}/approve",
                                 headers={"Origin": f"http://127.0.0.1:{port}"}) as response:
                assert response.status in (403, 405)
        assert (await dashboard_bot.anomaly(anomaly.id)).state == "pending"


async def test_a_service_started_before_its_topic_waits_for_it(
        bot_env: dict[str, str], slack_standin: SlackStandin, kube_admin_client: ApiClient,
        kafka_broker: KafkaBroker, kube_namespace: str) -> None:
    topic = f"late-{uuid.uuid4().hex[:8]}"
    env = {**bot_env, "CHATBOT_KAFKA_TOPIC": topic}
    async with running_bot(env, slack_standin, kube_admin_client) as late:
        base = late.url.removesuffix("/slack/events")
        # Kafka is advisory: reported with the reason, never a reason to stop taking clicks.
        waiting = f"topic {topic} does not exist yet; waiting for it"
        seen: dict[str, Any] = {}

        async def says_why() -> bool:
            async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as response:
                seen.update(await response.json(), status=response.status)
            return bool(seen["problems"].get("kafka") == waiting)
        await eventually(says_why, what="/readyz saying the topic is missing")
        assert seen["status"] == 200 and seen["advisory"] == ["coverage", "kafka"], seen
        assert seen["checks"]["kafka"] is False and seen["ready"] is True
        await kafka_broker.create_topic(topic, partitions=1)
        await late.send(flow_event(client_ns=kube_namespace))
        await late.card_posted()


ROUTED = f"""
channels: {{default: flow-alerts}}
routes:
  - {{namespaces: ["team-b-*"], channel: team-b}}
approvers:
  - {{namespaces: ["*"], users: [{OWNER}]}}
"""


@pytest.mark.parametrize("bot_rules", [ROUTED], indirect=True)
async def test_a_429_holds_only_its_channel_for_retry_after(
        bot: Bot, kube_namespace: str, slack_standin: SlackStandin) -> None:
    slack_standin.add_channel("team-b")
    slack_standin.fail_next(1, status=429, retry_after=4, method="chat.postMessage")
    await bot.send(flow_event(client_ns=kube_namespace))

    async def limited() -> bool:
        return any(c.status == 429 for c in slack_standin.calls("chat.postMessage"))
    await eventually(limited, what="the first post answered 429")
    await bot.send(flow_event(client_ns="team-b-payments"))
    await bot.card_posted(count=2)
    posts = [c for c in slack_standin.calls("chat.postMessage")]
    refused, *accepted = posts
    assert refused.status == 429
    assert [c.params["channel"] for c in accepted] == ["team-b", "flow-alerts"]
    assert accepted[1].at - refused.at >= 4  # honoured Retry-After
    assert len(slack_standin.messages("flow-alerts")) == 1
    assert len(slack_standin.messages("team-b")) == 1


async def test_serve_in_socket_mode_takes_clicks_over_the_websocket(
        bot_env: dict[str, str], slack_standin: SlackStandin, kube_admin_client: ApiClient,
        kube_namespace: str) -> None:
    env = {**bot_env, "CHATBOT_SLACK_APP_TOKEN": "xapp-1-A0BENCH0001-1-bench"}
    async with running_bot(env, slack_standin, kube_admin_client) as socket_bot:
        await socket_bot.send(flow_event(client_ns=kube_namespace))
        [anomaly] = await socket_bot.card_posted()
        assert anomaly.slack_channel_id and anomaly.slack_ts

        async def connected() -> bool:
            return slack_standin.socket_mode.connected == 1
        await eventually(connected, what="the bot's Socket Mode connection")
        await slack_standin.socket_mode.deliver(block_actions_payload(
            user_id=OWNER, action_id=ActionId.APPROVE.value, value=anomaly.id,
            channel_id=anomaly.slack_channel_id, message_ts=anomaly.slack_ts))
        await socket_bot.state_is(anomaly.id, "applied")
        assert len(await socket_bot.client_intents(kube_namespace)) == 1
