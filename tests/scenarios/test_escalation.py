"""Escalation to the incident war room: each trigger, the war-room message, incident
channels, the two-person rule, and exactly-once across replicas."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.events.fingerprint import fingerprint
from chatbot.events.parse import parse_event
from chatbot.slack.ids import ActionId, BlockId
from testbench.slack import SlackStandin
from tests.scenarios.harness import OWNER, Bot, eventually, flow_event

RESPONDER = "U0RESPONDER"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def rules(**escalation: Any) -> str:
    return json.dumps({
        "channels": {"default": "flow-alerts", "war_room": "war-room"},
        "approvers": [{"namespaces": ["*"], "users": [OWNER]}],
        "escalation": {"war_room_approvers": {"users": [RESPONDER]}, "timer_interval": "0.2s",
                       **escalation},
        "quorum": [{"namespaces": ["sensitive-*"], "approvals": 2}],
    })


async def war_room_cards(bot: Bot, count: int = 1) -> list[Any]:
    async def posted() -> bool:
        return len([m for m in bot.slack.messages("war-room") if m.blocks]) >= count
    await eventually(posted, what=f"{count} war-room message(s)")
    return [m for m in bot.slack.messages("war-room") if m.blocks]


def shown(message: Any) -> str:
    return json.dumps(message.blocks) + (message.text or "")


def buttons(message: Any) -> list[str]:
    """The decision buttons (the snooze buttons sit in a block of their own)."""
    return [e["action_id"] for b in message.blocks if b["type"] == "actions"
            and b.get("block_id") != BlockId.SNOOZE for e in b["elements"]]


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_an_escalate_click_brings_the_flow_to_the_war_room(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.ESCALATE) == 200
    [message] = await war_room_cards(bot)
    text = shown(message)
    assert "a person asked for it" in text and f"{kube_namespace}/web" in text
    assert "original message" in text  # permalink to the card in #flow-alerts
    assert buttons(message) == [ActionId.APPROVE, ActionId.BLOCK]
    assert message.metadata and message.metadata["event_payload"]["anomaly_id"] == anomaly.id

    async def marked() -> bool:
        return "Escalated" in shown(bot.slack.messages("flow-alerts")[0])
    await eventually(marked, what="the original card marked escalated")
    assert ("system", "escalate", "ok") not in await bot.audit(anomaly.id)
    assert (OWNER, "escalate", "ok") in await bot.audit(anomaly.id)


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_a_critical_event_escalates_with_no_click(bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, severity="critical"))
    [message] = await war_room_cards(bot)
    assert "the flow is critical" in shown(message)
    [anomaly] = await bot.anomalies()
    assert anomaly.state == "escalated" and anomaly.escalation_trigger == "critical"


@pytest.mark.parametrize("bot_rules", [rules(compliance_namespaces=["pci-*"],
                                             compliance_labels={"compliance": ["pci"]})],
                         indirect=True)
async def test_compliance_namespaces_and_labels_escalate_and_raise_severity(
        bot: Bot, kube_namespace: str) -> None:
    into_pci = flow_event(client_ns=kube_namespace, target="card-vault",
                          target_ns="pci-payments")
    labelled = flow_event(client_ns=kube_namespace, client="billing")
    labelled["client"]["labels"] = {"compliance": "pci"}
    harmless = flow_event(client_ns=kube_namespace, client="frontend")
    await bot.send(into_pci, labelled, harmless)
    messages = await war_room_cards(bot, count=2)
    assert len(messages) == 2
    await bot.card_posted(count=3)
    states = {a.client_name: (a.state, a.severity) for a in await bot.anomalies()}
    assert states == {"web": ("escalated", "critical"), "billing": ("escalated", "critical"),
                      "frontend": ("pending", "medium")}


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_a_blocked_flow_retried_escalates_once_not_twice(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.BLOCK) == 200
    await bot.state_is(anomaly.id, "blocked")
    await bot.send(flow_event(client_ns=kube_namespace))
    await war_room_cards(bot)
    await bot.state_is(anomaly.id, "escalated")
    await bot.send(flow_event(client_ns=kube_namespace), flow_event(client_ns=kube_namespace))

    async def counted() -> bool:
        return (await bot.anomaly(anomaly.id)).event_count == 4
    await eventually(counted, what="the later retries stored")
    await asyncio.sleep(1.0)  # several timer ticks
    assert len(await war_room_cards(bot)) == 1
    escalations = [a for a in await bot.audit(anomaly.id) if a[1] == "escalate"]
    assert escalations == [("system", "escalate", "ok")]


@pytest.mark.parametrize("bot_rules", [rules(pending_timeout="1s")], indirect=True)
async def test_an_undecided_flow_escalates_after_the_pending_timeout(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    [message] = await war_room_cards(bot)
    assert "nobody decided in time" in shown(message) and "no decision within 1s" in shown(message)
    assert (await bot.anomaly(anomaly.id)).escalation_trigger == "pending-timeout"


INCIDENT = rules(incident_channel="create",
                 responders={"users": [RESPONDER], "groups": ["S0ONCALL"]})


@pytest.mark.parametrize("bot_rules", [INCIDENT], indirect=True)
async def test_an_incident_channel_is_opened_with_responders_despite_a_name_clash(
        bot: Bot, kube_namespace: str, slack_standin: SlackStandin) -> None:
    slack_standin.add_usergroup("S0ONCALL", ["U0ONCALL1", "U0ONCALL2"])
    event = flow_event(client_ns=kube_namespace, severity="critical")
    short_id = fingerprint(parse_event(orjson.dumps(event)))[:8]
    taken = f"inc-{datetime.now(UTC):%Y%m%d}-{short_id}"
    slack_standin.add_channel(taken)  # someone else's channel already has the name
    await bot.send(event)

    async def opened() -> bool:
        return bool((await bot.anomalies()) and (await bot.anomalies())[0].war_room_ts)
    await eventually(opened, what="the incident message posted")
    [anomaly] = await bot.anomalies()
    incident = slack_standin.channel_id(f"{taken}-2")
    assert anomaly.incident_channel_id == incident
    assert [m for m in slack_standin.messages(incident) if m.blocks]  # context posted there
    invited = {user for call in slack_standin.calls("conversations.invite")
               for user in str(call.params["users"]).split(",")}
    assert invited == {RESPONDER, "U0ONCALL1", "U0ONCALL2"}
    pointer = [m for m in slack_standin.messages("war-room") if incident in (m.text or "")]
    assert pointer, "the war room points at the incident channel"


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_a_decision_in_the_war_room_updates_both_messages_and_writes_intents(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, severity="critical"))
    await war_room_cards(bot)
    [anomaly] = await bot.card_posted()
    anomaly = await bot.anomaly(anomaly.id)
    assert anomaly.war_room_channel_id and anomaly.war_room_ts
    anomaly.slack_channel_id, anomaly.slack_ts = anomaly.war_room_channel_id, anomaly.war_room_ts
    assert await bot.click(anomaly, ActionId.APPROVE, user=RESPONDER) == 200
    await bot.state_is(anomaly.id, "applied")
    assert len(await bot.client_intents(kube_namespace)) == 1

    async def both_updated() -> bool:
        card = bot.slack.messages("flow-alerts")[0]
        war = next(m for m in bot.slack.messages("war-room") if m.blocks)
        return all(f"<@{RESPONDER}>" in shown(m) and buttons(m) == [ActionId.REVOKE]
                   for m in (card, war))
    await eventually(both_updated, what="both messages show the decision")


@pytest.fixture
async def sensitive_namespace(kube_admin_client: ApiClient, kube_namespace: str) -> str:
    name = kube_namespace.replace("bench-", "sensitive-")
    await client.CoreV1Api(kube_admin_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.mark.parametrize("bot_rules", [json.dumps({
    "channels": {"default": "flow-alerts", "war_room": "war-room"},
    "approvers": [{"namespaces": ["*"], "users": [OWNER, "U0SECOND"]}],
    "quorum": [{"namespaces": ["sensitive-*"], "approvals": 2}]})], indirect=True)
async def test_a_two_approver_namespace_writes_only_after_two_distinct_approvals(
        bot: Bot, sensitive_namespace: str) -> None:
    await bot.send(flow_event(client_ns=sensitive_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.APPROVE, user=OWNER) == 200

    async def one_vote() -> bool:
        return "1 of 2" in shown(bot.slack.messages("flow-alerts")[0])
    await eventually(one_vote, what="the card shows one vote of two")
    assert await bot.click(anomaly, ActionId.APPROVE, user=OWNER) == 200  # same person again
    await asyncio.sleep(1.5)
    assert (await bot.anomaly(anomaly.id)).state == "pending"
    assert await bot.client_intents(sensitive_namespace) == []
    assert (OWNER, "approve", "duplicate_vote") in await bot.audit(anomaly.id)

    assert await bot.click(anomaly, ActionId.APPROVE, user="U0SECOND") == 200
    await bot.state_is(anomaly.id, "applied")
    assert len(await bot.client_intents(sensitive_namespace)) == 1
    applies = [a for a in await bot.audit(anomaly.id) if a[1] == "apply"]
    assert applies == [("system", "apply", "applied")]
