"""Grouped cards through Kafka, the service, the real bolt app and the Slack stand-in: one
workload's rollout of 12 new flows inside the grouping window is one message with 12 rows;
"Approve all I may decide" by a stranger changes nothing and is refused; by the approver it
applies the 9 benign flows and leaves the 3 risky ones pending with their own buttons."""

from __future__ import annotations

import json

import pytest

from chatbot.slack.ids import APPROVE_ALL_ACTION_ID, GROUP_EVENT_TYPE, ActionId, GroupBlockId
from testbench.slack.signing import block_actions_payload, interaction_body, post_signed
from tests.scenarios.conftest import RULES
from tests.scenarios.harness import OWNER, STRANGER, Bot, eventually, flow_event

GROUPED = RULES + "grouping: {window: 2m}\n"

with_grouping = pytest.mark.parametrize("bot_rules", [GROUPED], indirect=True)


async def approve_all(bot: Bot, group_id: str, channel: str, ts: str, user: str) -> int:
    payload = block_actions_payload(user_id=user, action_id=APPROVE_ALL_ACTION_ID,
                                    value=group_id, channel_id=channel, message_ts=ts,
                                    block_id=GroupBlockId.BULK)
    return (await post_signed(bot.url, interaction_body(payload), bot.secret))[0]


def rows_with_buttons(blocks: list[dict[str, object]]) -> list[str]:
    """The anomalies a card offers Approve for, from its action blocks."""
    return [str(element["value"]) for block in blocks if block.get("type") == "actions"
            for element in block["elements"]  # type: ignore[attr-defined]
            if element["action_id"] == ActionId.APPROVE.value]


@with_grouping
async def test_a_rollout_is_one_card_and_approve_all_sweeps_only_the_benign_flows(
        bot: Bot, kube_namespace: str) -> None:
    benign = [flow_event(client_ns=kube_namespace, target=f"api-{i}") for i in range(9)]
    risky = [flow_event(client_ns=kube_namespace, target=f"vault-{i}", severity="high")
             for i in range(3)]
    await bot.send(*benign, *risky)

    async def one_card_twelve_rows() -> bool:
        messages = bot.slack.messages("flow-alerts")
        return (len(messages) == 1 and len(rows_with_buttons(messages[0].blocks)) == 12)
    await eventually(one_card_twelve_rows, within=30, what="one group card with 12 rows")
    [card] = bot.slack.messages("flow-alerts")
    assert card.metadata and card.metadata["event_type"] == GROUP_EVENT_TYPE
    payload = card.metadata["event_payload"]
    assert isinstance(payload, dict)
    group_id = str(payload["anomaly_id"])
    shown = json.dumps(card.blocks, ensure_ascii=False)
    assert "*12 new flows*" in shown and "3 need their own decision" in shown
    assert "Approve all I may decide (9)" in shown
    rows = await bot.anomalies()
    assert len(rows) == 12 and {row.group_id for row in rows} == {group_id}
    assert all(row.slack_ts is None for row in rows)  # no flow has a card of its own
    risky_ids = {row.id for row in rows if row.severity == "high"}
    assert len(risky_ids) == 3

    channel = card.channel
    assert await approve_all(bot, group_id, channel, card.ts, STRANGER) == 200

    async def stranger_told() -> bool:
        return any("not an approver" in e.text for e in bot.slack.ephemerals()
                   if e.user == STRANGER)
    await eventually(stranger_told, what="the stranger's bulk click refused")
    assert {row.state for row in await bot.anomalies()} == {"pending"}

    assert await approve_all(bot, group_id, channel, card.ts, OWNER) == 200
    for row in rows:
        if row.id not in risky_ids:
            await bot.state_is(row.id, "applied", within=40)
    [intents] = await bot.client_intents(kube_namespace)
    assert len(intents["spec"]["targets"]) == 9
    assert {row.id: row.state for row in await bot.anomalies() if row.id in risky_ids} == \
        dict.fromkeys(risky_ids, "pending")
    assert any("Approved 9 flow(s)" in e.text and "3 flow(s) need their own decision"
               in e.text for e in bot.slack.ephemerals() if e.user == OWNER)

    async def card_shows_it() -> bool:
        [now] = bot.slack.messages("flow-alerts")
        return (set(rows_with_buttons(now.blocks)) == risky_ids
                and APPROVE_ALL_ACTION_ID not in json.dumps(now.blocks))
    await eventually(card_shows_it, what="the card updated in place: 3 rows with buttons")
    assert len(bot.slack.messages("flow-alerts")) == 1

    # A risky row's own button still decides it, from the group card.
    first = sorted(risky_ids)[0]
    assert await bot.click_in(channel, card.ts, first, ActionId.APPROVE) == 200
    await bot.state_is(first, "applied", within=40)
    assert [row.state for row in await bot.anomalies() if row.id in risky_ids - {first}] \
        == ["pending", "pending"]
