"""What a person reads in Slack, through the real bot and the stand-in's rendering: cards and
threads as the sensor saw the flow, the war-room message gaining its link to a card posted
after it, the war room's authority over an escalated flow, and every Web API call counted."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

import pytest

from chatbot.coverage_resolver import CoverageResolver
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.slack.ids import ActionId, SnoozeId
from testbench.slack import Shown, SlackStandin
from tests.scenarios.harness import OWNER, Bot, eventually, flow_event

RESPONDER = "U0RESPONDER"
SNOOZE = [snooze.label for snooze in SnoozeId]  # an open card also offers its snooze
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Printable, no spaces: a valid HTTP path that would be markup if Slack read it as such.
HOSTILE_PATH = "/`v1`/*bold*/_it_/~strike~/<!channel>/<@U0EVIL>/&amp;"
SHOWN_PATH = HOSTILE_PATH.replace("`", "ˋ")  # a code span cannot hold a backtick
DATE = r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2}"


def rules(*, risk: list[Any] | None = None, **escalation: Any) -> str:
    return json.dumps({
        "channels": {"default": "flow-alerts", "war_room": "war-room"},
        "approvers": [{"namespaces": ["*"], "users": [OWNER]}],
        "escalation": {"war_room_approvers": {"users": [RESPONDER]}, "timer_interval": "0.2s",
                       "compliance_namespaces": ["pci-*"], **escalation},
        **({"risk": risk} if risk is not None else {}),
    })


@pytest.fixture(autouse=True)
def people(slack_standin: SlackStandin) -> None:
    slack_standin.add_user("owner", user_id=OWNER)
    slack_standin.add_user("responder", user_id=RESPONDER)
    slack_standin.add_user("evil", user_id="U0EVIL")


def card(bot: Bot) -> Shown:
    [shown] = [s for s in bot.slack.shown("flow-alerts") if not s.is_reply]
    return shown


def war_room(bot: Bot) -> list[Shown]:
    return [s for s in bot.slack.shown("war-room") if "Escalated because" in s.text]


def first_in_war_room(bot: Bot) -> Shown | None:
    return next(iter(war_room(bot)), None)


async def shows(read: Any, *texts: str, what: str) -> Shown:
    async def there() -> bool:
        shown = read()
        return shown is not None and all(text in shown.text for text in texts)
    await eventually(there, what=what)
    result: Shown = read()
    return result


def assert_nobody_mentioned_by_the_event(shown: Shown, *allowed: str) -> None:
    assert set(shown.mentions) <= set(allowed), shown.text
    assert not {"@channel", "@here", "@everyone", "@evil"} & set(shown.mentions)
    for leaked in ("<!date^", f"<@{OWNER}>", f"<@{RESPONDER}>", "&lt;", "&gt;"):
        assert leaked not in shown.text, f"{leaked!r} read literally:\n{shown.text}"


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_a_card_reads_as_the_sensor_saw_the_flow_from_pending_to_applied(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace,
                              http={"path": HOSTILE_PATH, "method": "POST"}))
    [anomaly] = await bot.card_posted()
    pending = card(bot)
    assert f"POST {SHOWN_PATH}" in pending.text
    assert re.search(rf"1× \(first {DATE}, last {DATE}\)", pending.text), pending.text
    assert pending.mentions == [] and pending.buttons == ["Approve", "Block", "Escalate", *SNOOZE]
    assert_nobody_mentioned_by_the_event(pending)
    assert not [s for style, s in pending.styled if style != "code" and "bold" in s]

    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    applied = await shows(lambda: card(bot), "Approved by @owner", "updated",
                          what="the card shows the approval")
    assert re.search(rf"Approved by @owner {DATE}", applied.text), applied.text
    assert applied.mentions == ["@owner"] and applied.buttons == ["Revoke"]
    assert f"POST {SHOWN_PATH}" in applied.text
    assert_nobody_mentioned_by_the_event(applied, "@owner")


@pytest.mark.parametrize("bot_kubeconfig", ["powerless"], indirect=True)
@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_a_refused_write_reads_right_on_the_card_and_in_its_thread(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace,
                              http={"path": HOSTILE_PATH, "method": "GET"}))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    await bot.state_is(anomaly.id, "apply_failed")

    def reply() -> Shown | None:
        return next((s for s in bot.slack.shown("flow-alerts") if s.is_reply), None)
    thread = await shows(reply, "failed:", "forbidden", what="the failure in the thread")
    assert f"Writing the ClientIntents for {kube_namespace}/web failed:" in thread.text
    assert_nobody_mentioned_by_the_event(thread)
    failed = await shows(lambda: card(bot), "failed (attempt", what="the failure on the card")
    assert_nobody_mentioned_by_the_event(failed, "@owner")


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_a_war_room_post_made_before_the_card_gains_the_link_once_the_card_exists(
        bot: Bot, kube_namespace: str, slack_standin: SlackStandin) -> None:
    # The card's first post is refused for a while; the compliance escalation goes first.
    slack_standin.fail_next(1, status=429, retry_after=3, method="chat.postMessage",
                            channel="flow-alerts")
    await bot.send(flow_event(client_ns=kube_namespace, target="card-vault",
                              target_ns="pci-payments"))

    async def war_room_posted() -> bool:
        return bool(war_room(bot))
    await eventually(war_room_posted, what="the war-room message")
    [first] = war_room(bot)
    assert "original message" not in first.text and first.links == []
    assert not [a for a in await bot.anomalies() if a.slack_ts], "the card came first"

    [anomaly] = await bot.card_posted()
    linked = await shows(lambda: first_in_war_room(bot), "· original message",
                         what="the war-room message linked to the card")
    original = next(m for m in slack_standin.messages("flow-alerts") if m.ts == anomaly.slack_ts)
    assert linked.links[0] == ("original message", slack_standin.workspace.permalink(original))
    assert "Escalated because it touches a compliance namespace" in linked.text
    assert "namespace pci-payments is under compliance rules" in linked.text
    assert_nobody_mentioned_by_the_event(linked)

    await asyncio.sleep(1.5)  # several outbox passes: the link is added once, not again
    row = await bot.anomaly(anomaly.id)
    updates = [c for c in slack_standin.calls("chat.update")
               if c.params.get("ts") == row.war_room_ts]
    assert len(updates) == 1
    assert len(slack_standin.calls("chat.getPermalink")) == 1
    handed = card(bot)
    assert handed.buttons == [] and "The war-room approvers decide this flow now" in handed.text


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_after_an_escalation_the_war_room_decides_not_the_namespace_approver(
        bot: Bot, kube_namespace: str, slack_standin: SlackStandin) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.ESCALATE) == 200
    handed = await shows(lambda: card(bot), "The war-room approvers decide this flow now",
                         what="the original card hands the decision over")
    assert handed.buttons == [] and "escalated by @owner" in handed.text
    assert handed.mentions == ["@owner"]

    # The approver still has the old card open and clicks its Approve anyway.
    assert await bot.click(anomaly, ActionId.APPROVE) == 200

    async def told() -> bool:
        return bool(slack_standin.shown_ephemerals("flow-alerts"))
    await eventually(told, what="the refusal")
    [refusal] = slack_standin.shown_ephemerals("flow-alerts")
    assert refusal.text == ("This flow was escalated, so the war-room approvers decide it now: "
                            "your approve was not recorded. Say what you know in the war room.")
    assert slack_standin.ephemerals("flow-alerts")[0].user == OWNER
    assert (OWNER, "approve", "refused") in await bot.audit(anomaly.id)
    await asyncio.sleep(0.5)
    assert (await bot.anomaly(anomaly.id)).state == "escalated"
    assert await bot.client_intents(kube_namespace) == []

    row = await bot.anomaly(anomaly.id)
    assert row.war_room_channel_id and row.war_room_ts
    [message] = war_room(bot)
    assert message.buttons == ["Approve", "Block"]  # the war-room message offers no snooze
    assert await bot.click_in(row.war_room_channel_id, row.war_room_ts, anomaly.id,
                              ActionId.APPROVE, user=RESPONDER) == 200
    await bot.state_is(anomaly.id, "applied")
    assert len(await bot.client_intents(kube_namespace)) == 1
    assert (RESPONDER, "approve", "ok") in await bot.audit(anomaly.id)
    decided = await shows(lambda: card(bot), "Approved by @responder",
                          what="the original card shows the war room's decision")
    assert decided.buttons == ["Revoke"]


@pytest.mark.parametrize("bot_rules", [rules(namespace_approvers_decide_escalated=True)],
                         indirect=True)
async def test_the_rules_switch_lets_the_namespace_approver_decide_an_escalated_flow(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.ESCALATE) == 200
    escalated = await shows(lambda: card(bot), "escalated by @owner",
                            what="the card marked escalated")
    assert escalated.buttons == ["Approve", "Block", *SNOOZE]
    assert "war-room approvers decide" not in escalated.text
    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    await bot.state_is(anomaly.id, "applied")
    assert (OWNER, "approve", "ok") in await bot.audit(anomaly.id)


@pytest.mark.parametrize("bot_rules", [rules()], indirect=True)
async def test_an_escalated_card_covered_elsewhere_reads_resolved_in_both_rooms(
        bot: Bot, kube_namespace: str, slack_standin: SlackStandin) -> None:
    await bot.send(flow_event(client_ns=kube_namespace,
                              http={"path": HOSTILE_PATH, "method": "POST"}))
    [anomaly] = await bot.card_posted()
    assert await bot.click(anomaly, ActionId.ESCALATE) == 200
    await shows(lambda: first_in_war_room(bot), "escalated by @owner",
                what="the war-room message")
    index = CoverageIndex()
    index.upsert(IntentRef(kube_namespace, "web"), {
        "apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
        "metadata": {"name": "web", "namespace": kube_namespace},
        "spec": {"workload": {"name": "web", "kind": "Deployment"},
                 "targets": [{"kubernetes": {"name": "game-api"}}]}})
    resolver = CoverageResolver(sessions=bot.service.sessions, index=index,
                                clock=bot.service.clock,
                                on_resolved=lambda _id: bot.service.outbox.wake())
    assert await resolver.resolve() == [anomaly.id]

    line = f"Now covered by ClientIntents {kube_namespace}/web; no decision needed"
    resolved = await shows(lambda: card(bot), line, what="the card resolved")
    assert resolved.buttons == [] and f"POST {SHOWN_PATH}" in resolved.text
    assert "escalated by @owner" in resolved.text
    assert "war-room approvers decide" not in resolved.text
    assert not re.search(r"Approve|Writing the ClientIntents", resolved.text), resolved.text
    assert resolved.text.rstrip().endswith("· covered")
    assert_nobody_mentioned_by_the_event(resolved, "@owner")
    room = await shows(lambda: first_in_war_room(bot), line, what="the war room resolved")
    assert room.buttons == [] and "Escalated because a person asked for it" in room.text
    assert_nobody_mentioned_by_the_event(room, "@owner")


def outcome(status: int, response: dict[str, object]) -> str:
    return "ok" if status == 200 and response.get("ok") is True else str(status)


# No risk rules: a compliance flow's Approve would ask for a justification (a modal) first.
@pytest.mark.parametrize("bot_rules", [rules(risk=[])], indirect=True)
async def test_slack_calls_total_counts_every_call_the_stand_in_received(
        bot: Bot, kube_namespace: str, slack_standin: SlackStandin) -> None:
    # Refused first posts make both lanes look their messages up in the history later.
    slack_standin.fail_next(1, status=429, retry_after=1, method="chat.postMessage",
                            channel="flow-alerts")
    slack_standin.fail_next(1, status=429, retry_after=1, method="chat.postMessage",
                            channel="war-room")
    await bot.send(flow_event(client_ns=kube_namespace, target="card-vault",
                              target_ns="pci-payments"),
                   flow_event(client_ns=kube_namespace, client="billing"))
    posted = await bot.card_posted(count=2)
    clicked = next(a for a in posted if a.client_name == "billing")
    assert await bot.click(clicked, ActionId.ESCALATE) == 200
    await bot.state_is(clicked.id, "escalated")
    assert await bot.click(clicked, ActionId.APPROVE) == 200  # refused: an ephemeral

    async def linked() -> bool:
        rows = await bot.anomalies()
        return len(rows) == 2 and all(r.war_room_ts and r.war_room_link for r in rows)
    await eventually(linked, what="both war-room messages posted and linked")
    for row in await bot.anomalies():
        assert row.war_room_channel_id and row.war_room_ts
        assert await bot.click_in(row.war_room_channel_id, row.war_room_ts, row.id,
                                  ActionId.APPROVE, user=RESPONDER) == 200
        await bot.state_is(row.id, "applied")

    async def settled() -> bool:
        before = len(slack_standin.calls())
        await asyncio.sleep(1.5)
        return before == len(slack_standin.calls())
    await eventually(settled, within=30, what="the outbox done with Slack")

    received = Counter((c.method, outcome(c.status, c.response)) for c in slack_standin.calls()
                       if c.method != "response_url")
    counted = {key: value for key, value in (await bot.slack_calls_counted()).items() if value}
    assert counted == {key: float(n) for key, n in received.items()}
    methods = {method for method, _ in received}
    assert {"chat.postMessage", "chat.update", "chat.getPermalink", "conversations.history",
            "chat.postEphemeral"} <= methods
    assert received[("chat.postMessage", "429")] == 2
