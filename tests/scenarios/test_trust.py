"""Decisions a security engineer can trust, end to end through the real bolt app with signed
requests: a risky Approve asks first, a rule can demand a justification (a modal, refused
empty, stored and written into the annotations when given), Revoke takes out exactly the
target it added — from the chat or, when chat is down, from ``chatbot revoke`` — and the same
flow seen again asks for a new decision."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from chatbot.intents.provenance import grant_key
from chatbot.slack.ids import JUSTIFICATION_INPUT, ActionId, BlockId
from chatbot.store.audit import entries
from chatbot.store.models import Anomaly
from testbench.slack.signing import interaction_body, post_signed, view_submission_payload
from tests.scenarios.harness import OWNER, STRANGER, Bot, eventually, flow_event

SECOND = "U0SECOND"
CHATBOT = Path(sys.executable).with_name("chatbot")
RULES = json.dumps({
    "channels": {"default": "flow-alerts", "war_room": "war-room"},
    "approvers": [{"namespaces": ["*"], "users": [OWNER, SECOND]}],
    "risk": [{"name": "severity high or critical", "severity": ["high", "critical"]},
             {"name": "denied by a policy", "reason": ["denied-by-policy", "would-be-denied"],
              "require": ["justification"]}],
})
pytestmark = [pytest.mark.parametrize("bot_rules", [RULES], indirect=True)]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def denied(**kwargs: Any) -> dict[str, Any]:
    event = flow_event(**kwargs)
    event["reason"] = "denied-by-policy"
    return event


def buttons(message: Any) -> dict[str, dict[str, Any]]:
    """The decision buttons (the snooze buttons have their own block)."""
    return {e["action_id"]: e for b in message.blocks
            if b["type"] == "actions" and b.get("block_id") == BlockId.DECISION
            for e in b["elements"]}


def shown(message: Any) -> str:
    return json.dumps(message.blocks) + (message.text or "")


async def submit(bot: Bot, view: dict[str, Any], *, user: str, text: str | None,
                 ) -> tuple[int, dict[str, Any]]:
    payload = view_submission_payload(user_id=user, view=view, values={
        BlockId.JUSTIFICATION: {JUSTIFICATION_INPUT: text}})
    status, body = await post_signed(bot.url, interaction_body(payload), bot.secret)
    return status, (json.loads(body) if body.strip() else {})


async def intents_of(bot: Bot, namespace: str) -> dict[str, Any]:
    [intents] = await bot.client_intents(namespace)
    return intents


async def message_shows(bot: Bot, index: int, *words: str) -> None:
    async def updated() -> bool:
        text = shown(bot.slack.messages("flow-alerts")[index])
        return all(word in text for word in words)
    await eventually(updated, what=f"card {index} showing {words}")


@sqlite_only
async def test_a_risky_approve_asks_first_and_a_benign_one_does_not(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, target="benign"))
    await bot.card_posted()
    await bot.send(flow_event(client_ns=kube_namespace, target="worrying", severity="high"))
    await bot.card_posted(count=2)
    benign, risky = sorted(bot.slack.messages("flow-alerts"), key=lambda m: "worrying" in
                           shown(m))
    assert "confirm" not in buttons(benign)[ActionId.APPROVE]
    assert "confirm" not in buttons(risky)[ActionId.BLOCK]
    confirm = buttons(risky)[ActionId.APPROVE]["confirm"]
    assert confirm["title"]["text"] == "Approve a risky flow?"
    assert "severity high or critical" in confirm["text"]["text"]
    assert "every port of Deployment" in confirm["text"]["text"]
    assert "Risky" in shown(risky) and "What Approve opens" in shown(risky)


@sqlite_only
async def test_a_rule_requiring_a_justification_opens_a_modal_and_refuses_it_empty(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(denied(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert "Next you write why" in json.dumps(
        buttons(bot.slack.messages("flow-alerts")[0])[ActionId.APPROVE]["confirm"])

    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    await eventually(lambda: _true(bool(bot.slack.views())), what="views.open")
    [view] = bot.slack.views()
    assert view["callback_id"] == "anomaly.justify"
    assert [c.ok for c in bot.slack.calls("views.open")] == [True]
    assert (await bot.anomaly(anomaly.id)).state == "pending"  # nothing decided yet

    for empty in (None, "   "):
        status, answer = await submit(bot, view, user=OWNER, text=empty)
        assert status == 200 and answer["response_action"] == "errors"
        assert "Write why" in answer["errors"][BlockId.JUSTIFICATION]
    await asyncio.sleep(0.3)
    assert (await bot.anomaly(anomaly.id)).state == "pending"

    status, answer = await submit(bot, view, user=OWNER, text="INC-4711: ledger sync needs it")
    assert status == 200 and answer == {}  # the modal closes
    row = await bot.state_is(anomaly.id, "applied")
    assert row.justifications == [{"by": OWNER, "action": "approve",
                                   "text": "INC-4711: ledger sync needs it"}]
    async with bot.service.sessions() as session:
        [approved] = [e for e in await entries(session, anomaly_id=anomaly.id)
                      if e.action == "approve"]
    assert approved.detail["justification"] == "INC-4711: ledger sync needs it"
    grant = json.loads((await intents_of(bot, kube_namespace))["metadata"]["annotations"][
        grant_key(anomaly.id)])
    assert grant["why"] == "INC-4711: ledger sync needs it" and grant["by"] == OWNER
    await message_shows(bot, 0, "INC-4711: ledger sync needs it", "Approved")


@sqlite_only
async def test_a_stranger_is_refused_before_any_modal(bot: Bot, kube_namespace: str) -> None:
    await bot.send(denied(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.APPROVE, user=STRANGER) == 200
    await eventually(lambda: _true(any(e.user == STRANGER for e in bot.slack.ephemerals())),
                     what="an ephemeral refusal")
    assert bot.slack.views() == []
    assert (STRANGER, "approve", "refused") in await bot.audit(anomaly.id)


async def test_revoke_removes_exactly_its_target_and_the_flow_seen_again_asks_anew(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, target="game-api"))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    await bot.state_is(anomaly.id, "applied")
    await _add_by_hand(bot, kube_namespace, {"service": {"name": "hand-written"}})
    await message_shows(bot, 0, "anomaly.revoke")
    assert buttons(bot.slack.messages("flow-alerts")[0])[ActionId.REVOKE]["confirm"]

    assert await bot.click(anomaly, ActionId.REVOKE, user=STRANGER) == 200
    await eventually(lambda: _true(any(e.user == STRANGER for e in bot.slack.ephemerals())),
                     what="the stranger told no")
    assert (STRANGER, "revoke", "refused") in await bot.audit(anomaly.id)
    assert (await bot.anomaly(anomaly.id)).state == "applied"

    assert await bot.click(anomaly, ActionId.REVOKE) == 200
    row = await bot.state_is(anomaly.id, "revoked")
    assert row.revoked_by == OWNER
    intents = await intents_of(bot, kube_namespace)
    assert intents["spec"]["targets"] == [{"service": {"name": "hand-written"}}]
    assert grant_key(anomaly.id) not in intents["metadata"].get("annotations", {})
    audit = await bot.audit(anomaly.id)
    assert (OWNER, "revoke", "ok") in audit and ("system", "remove", "removed") in audit
    await message_shows(bot, 0, "Revoked", "asks for a new decision")
    assert ActionId.REVOKE not in buttons(bot.slack.messages("flow-alerts")[0])

    await bot.send(flow_event(client_ns=kube_namespace, target="game-api"))
    await eventually(lambda: _posted_twice(bot), what="a new card for the same flow")
    row = await bot.anomaly(anomaly.id)
    assert row.state == "pending" and row.decided_by is None and row.revoked_by is None
    old, new = bot.slack.messages("flow-alerts")
    assert "Revoked" in shown(old) and "Revoked" not in shown(new)
    assert list(buttons(new)) == [ActionId.APPROVE, ActionId.BLOCK, ActionId.ESCALATE]
    assert ("system", "reopened", "ok") in await bot.audit(anomaly.id)


@sqlite_only
async def test_chatbot_revoke_breaks_glass_with_the_same_removal(
        bot: Bot, bot_env: dict[str, str], kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, target="game-api"))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    await bot.state_is(anomaly.id, "applied")
    await _add_by_hand(bot, kube_namespace, {"service": {"name": "hand-written"}})

    refused = await _cli(bot_env, "revoke", anomaly.id[:8])
    assert refused.returncode == 2 and b"--reason" in refused.stderr
    done = await _cli(bot_env, "revoke", anomaly.id[:8], "--reason", "slack is down, INC-9")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"revoked {anomaly.id[:8]}".encode() in done.stdout

    row = await bot.anomaly(anomaly.id)
    assert row.state == "revoked" and str(row.revoked_by).startswith("cli:")
    intents = await intents_of(bot, kube_namespace)
    assert intents["spec"]["targets"] == [{"service": {"name": "hand-written"}}]
    async with bot.service.sessions() as session:
        [by_hand] = [e for e in await entries(session, anomaly_id=anomaly.id)
                     if e.action == "revoke"]
    assert by_hand.detail["break_glass"] is True
    assert by_hand.detail["justification"] == "slack is down, INC-9"
    again = await _cli(bot_env, "revoke", anomaly.id[:8], "--reason", "twice")
    assert again.returncode == 1 and b"only applied access can be revoked" in again.stdout
    await message_shows(bot, 0, "Revoked", "slack is down, INC-9")


@sqlite_only
async def test_two_approvals_on_one_object_keep_both_approvers(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, target="game-api"))
    [first] = await bot.card_posted()
    await bot.send(flow_event(client_ns=kube_namespace, target="leaderboard"))
    [second] = [a for a in await bot.card_posted(count=2) if a.id != first.id]
    assert await bot.click(first, ActionId.APPROVE, user=OWNER) == 200
    await bot.state_is(first.id, "applied")
    assert await bot.click(second, ActionId.APPROVE, user=SECOND) == 200
    await bot.state_is(second.id, "applied")

    annotations = (await intents_of(bot, kube_namespace))["metadata"]["annotations"]
    grants = {key: json.loads(annotations[grant_key(a.id)]) for key, a in
              (("first", first), ("second", second))}
    assert grants["first"]["by"] == OWNER and grants["second"]["by"] == SECOND
    assert grants["first"]["added"] == [{"kubernetes": {"name": "game-api",
                                                        "kind": "Deployment"}}]
    assert grants["second"]["added"] == [{"kubernetes": {"name": "leaderboard",
                                                         "kind": "Deployment"}}]


async def _add_by_hand(bot: Bot, namespace: str, entry: dict[str, Any]) -> None:
    intents = await intents_of(bot, namespace)
    intents["spec"]["targets"].append(entry)
    await client.CustomObjectsApi(bot.kube).replace_namespaced_custom_object(
        "k8s.otterize.com", "v2beta1", namespace, "clientintents",
        intents["metadata"]["name"], intents)


@dataclass
class Ran:
    returncode: int
    stdout: bytes
    stderr: bytes


async def _cli(env: dict[str, str], *args: str) -> Ran:
    """The installed console script, as an operator runs it, against the bot's settings."""
    assert CHATBOT.exists(), f"{CHATBOT} is missing: run scripts/setup-python first"
    process = await asyncio.create_subprocess_exec(
        str(CHATBOT), *args, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return Ran(-1 if process.returncode is None else process.returncode, out, err)


async def _true(value: bool) -> bool:
    return value


async def _posted_twice(bot: Bot) -> bool:
    rows: list[Anomaly] = await bot.anomalies()
    return len(bot.slack.messages("flow-alerts")) == 2 and bool(rows and rows[0].slack_ts)
