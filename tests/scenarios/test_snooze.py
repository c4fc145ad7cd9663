"""Snooze through the real bolt app with signed clicks: an approver snoozes a card (told so,
audited, the card says until when, nothing decided), a stranger's snooze is refused, and the
card comes back at once when the flow is seen again at a higher severity."""

from __future__ import annotations

import json

from chatbot.slack.ids import ActionId, SnoozeId
from testbench.slack.signing import block_actions_payload, interaction_body, post_signed
from tests.scenarios.harness import OWNER, STRANGER, Bot, eventually, flow_event


async def snooze(bot: Bot, anomaly_id: str, channel: str, ts: str, which: SnoozeId,
                 user: str) -> int:
    payload = block_actions_payload(user_id=user, action_id=which.value, value=anomaly_id,
                                    channel_id=channel, message_ts=ts)
    return (await post_signed(bot.url, interaction_body(payload), bot.secret))[0]


def card_blocks(bot: Bot, ts: str) -> str:
    [card] = [m for m in bot.slack.messages("flow-alerts") if m.ts == ts]
    return json.dumps(card.blocks, ensure_ascii=False)


async def test_an_approver_snoozes_a_card_a_stranger_cannot_and_severity_brings_it_back(
        bot: Bot, kube_namespace: str) -> None:
    event = flow_event(client_ns=kube_namespace)
    await bot.send(event)
    [anomaly] = await bot.card_posted()
    channel, ts = anomaly.slack_channel_id, anomaly.slack_ts
    assert channel and ts
    assert SnoozeId.HOUR.value in card_blocks(bot, ts)  # the buttons are on the card

    assert await snooze(bot, anomaly.id, channel, ts, SnoozeId.DAY, STRANGER) == 200
    async def refused() -> bool:
        return any("not an approver" in e.text for e in bot.slack.ephemerals()
                   if e.user == STRANGER)
    await eventually(refused, what="the stranger told no")
    assert (await bot.anomaly(anomaly.id)).snoozed_until is None

    assert await snooze(bot, anomaly.id, channel, ts, SnoozeId.HOUR, OWNER) == 200
    async def shown() -> bool:
        return ":zzz: Snoozed by" in card_blocks(bot, ts)
    await eventually(shown, what="the card's snooze line")
    row = await bot.anomaly(anomaly.id)
    assert row.state == "pending" and row.snoozed_by == OWNER and row.snoozed_until
    assert any("Snoozed until" in e.text for e in bot.slack.ephemerals() if e.user == OWNER)
    assert (OWNER, "snooze", "ok") in await bot.audit(anomaly.id)
    assert (STRANGER, "snooze", "refused") in await bot.audit(anomaly.id)

    await bot.send({**event, "event_id": "again-critical", "severity": "critical"})
    async def back() -> bool:
        text = card_blocks(bot, ts)
        return ":zzz:" not in text and "critical" in text
    await eventually(back, what="the card back with its new severity")
    assert ("system", "unsnooze", "severity_rose") in await bot.audit(anomaly.id)

    assert await bot.click(await bot.anomaly(anomaly.id), ActionId.APPROVE) == 200
    await bot.state_is(anomaly.id, "applied")
