"""``/flows`` through the real bolt app with signed requests: the caller's pending queue,
filtered, paged, explained — and nothing for a forged request or for a non-approver."""

from __future__ import annotations

import json
import re

from chatbot.slack.ids import PAGE_ACTION_ID, ActionId
from testbench.slack.signing import (
    block_actions_payload,
    interaction_body,
    post_signed,
    slash_command_body,
)
from tests.scenarios.harness import OWNER, STRANGER, Bot, eventually, flow_event


async def flows(bot: Bot, channel: str, text: str = "", *, user: str = OWNER,
                secret: str | None = None) -> int:
    body = slash_command_body(command="/flows", text=text, user_id=user, channel_id=channel)
    status, _ = await post_signed(bot.url, body, secret or bot.secret)
    return status


async def shown_to(bot: Bot, user: str, count: int) -> str:
    async def arrived() -> bool:
        return len([e for e in bot.slack.ephemerals() if e.user == user]) >= count
    await eventually(arrived, what=f"{count} ephemeral(s) for {user}")
    last = [e for e in bot.slack.ephemerals() if e.user == user][count - 1]
    return last.text + json.dumps(last.blocks, ensure_ascii=False)


async def test_flows_lists_filters_pages_and_explains(bot: Bot, kube_namespace: str) -> None:
    await bot.send(*(flow_event(client_ns=kube_namespace, client=f"web{i:02}") for i in range(12)))
    posted = await bot.card_posted(count=12)
    channel = posted[0].slack_channel_id
    assert channel

    assert await flows(bot, channel) == 200
    first = await shown_to(bot, OWNER, 1)
    assert "12 pending flow(s) you may decide" in first and "showing 1–10" in first
    page_one = set(re.findall(rf"{kube_namespace}/(web\d\d)", first))
    assert len(page_one) == 10
    assert ActionId.APPROVE.value in first and PAGE_ACTION_ID in first

    payload = block_actions_payload(user_id=OWNER, action_id=PAGE_ACTION_ID,
                                    value=json.dumps({"q": "", "offset": 10}),
                                    channel_id=channel, message_ts=posted[0].slack_ts or "")
    assert (await post_signed(bot.url, interaction_body(payload), bot.secret))[0] == 200
    second = await shown_to(bot, OWNER, 2)
    page_two = set(re.findall(rf"{kube_namespace}/(web\d\d)", second))
    assert "showing 11–12" in second and len(page_two) == 2
    assert page_one | page_two == {f"web{i:02}" for i in range(12)}  # every flow, once

    assert await flows(bot, channel, "web07") == 200
    narrowed = await shown_to(bot, OWNER, 3)
    assert "1 pending flow(s)" in narrowed and "web07" in narrowed and "web08" not in narrowed

    assert await flows(bot, channel, "help") == 200
    assert "narrows the list" in await shown_to(bot, OWNER, 4)

    assert await flows(bot, channel, user=STRANGER) == 200
    assert "No pending flows you may decide" in await shown_to(bot, STRANGER, 1)


async def test_a_forged_flows_request_is_refused_and_answers_nothing(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert anomaly.slack_channel_id
    assert await flows(bot, anomaly.slack_channel_id, secret="not-the-secret") == 401
    assert bot.slack.ephemerals() == []


async def test_approve_from_the_flows_list_decides_like_the_card(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace))
    [anomaly] = await bot.card_posted()
    assert anomaly.slack_channel_id
    await flows(bot, anomaly.slack_channel_id)
    assert anomaly.id in await shown_to(bot, OWNER, 1)  # the button's value
    assert await bot.click(anomaly, ActionId.APPROVE) == 200
    await bot.state_is(anomaly.id, "applied")
    await flows(bot, anomaly.slack_channel_id)
    assert "No pending flows" in await shown_to(bot, OWNER, 2)
