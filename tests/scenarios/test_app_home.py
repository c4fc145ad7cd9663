"""The App Home tab through the real bolt app: a signed ``app_home_opened`` makes the bot
publish the person's pending queue with ``views.publish`` (the stand-in records it), the
tab's buttons decide like the card's, and a decision republishes the tab for everyone who
opened it. A forged event publishes nothing; a stranger's tab is empty."""

from __future__ import annotations

import json
import re

from chatbot.slack.ids import HOME_PAGE_ACTION_ID, ActionId
from testbench.slack.signing import (
    app_home_opened_event,
    block_actions_payload,
    event_callback_body,
    interaction_body,
    post_signed,
)
from tests.scenarios.harness import OWNER, STRANGER, Bot, eventually, flow_event


async def open_home(bot: Bot, user: str, *, secret: str | None = None) -> int:
    body = event_callback_body(app_home_opened_event(user_id=user))
    return (await post_signed(bot.url, body, secret or bot.secret))[0]


async def home_of(bot: Bot, user: str, *, publishes: int) -> str:
    async def published() -> bool:
        return len([c for c in bot.slack.calls("views.publish")
                    if c.params.get("user_id") == user]) >= publishes
    await eventually(published, what=f"{publishes} views.publish for {user}")
    view = bot.slack.home_view(user)
    assert view is not None and view["type"] == "home"
    return json.dumps(view["blocks"], ensure_ascii=False)


async def test_the_home_tab_shows_my_queue_and_follows_decisions(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(*(flow_event(client_ns=kube_namespace, client=f"web{i:02}")
                     for i in range(12)))
    posted = await bot.card_posted(count=12)

    assert await open_home(bot, OWNER) == 200
    home = await home_of(bot, OWNER, publishes=1)
    assert "12 pending flow(s) you may decide" in home and "showing 1–10" in home
    shown = re.findall(rf"{kube_namespace}/(web\d\d)", home)
    oldest_first = [a.client_name for a in sorted(posted, key=lambda a: (a.first_seen, a.id))]
    assert shown == oldest_first[:10]
    assert ActionId.APPROVE.value in home and HOME_PAGE_ACTION_ID in home

    # Approve from the tab: the button carries the anomaly id like the card's does.
    first = next(a for a in posted if a.client_name == shown[0])
    assert first.id in home
    payload = block_actions_payload(user_id=OWNER, action_id=ActionId.APPROVE.value,
                                    value=first.id, channel_id="", message_ts="")
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload.pop("channel")
    assert (await post_signed(bot.url, interaction_body(payload), bot.secret))[0] == 200
    await bot.state_is(first.id, "approved", "applied")
    refreshed = await home_of(bot, OWNER, publishes=2)
    assert "11 pending flow(s)" in refreshed and first.id not in refreshed

    # Next page, from the tab.
    page = block_actions_payload(user_id=OWNER, action_id=HOME_PAGE_ACTION_ID,
                                 value=json.dumps({"q": "", "offset": 10}), channel_id="",
                                 message_ts="")
    page["container"] = {"type": "view", "view_id": "V0HOME"}
    page.pop("channel")
    calls = len(bot.slack.calls("views.publish"))
    assert (await post_signed(bot.url, interaction_body(page), bot.secret))[0] == 200
    second = await home_of(bot, OWNER, publishes=calls + 1)
    assert "showing 11–11" in second

    assert await open_home(bot, STRANGER) == 200
    assert "No pending flows you may decide" in await home_of(bot, STRANGER, publishes=1)


async def test_a_forged_app_home_opened_publishes_nothing(bot: Bot) -> None:
    assert await open_home(bot, OWNER, secret="not-the-secret") == 401
    assert bot.slack.calls("views.publish") == []
