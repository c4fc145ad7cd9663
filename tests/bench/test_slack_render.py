"""The stand-in shows a message the way Slack does: controls read (mentions notify, dates and
links read as words), escaped controls shown and never obeyed, styling markers consumed."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from testbench.slack import SlackStandin
from testbench.slack.render import mrkdwn, shown_message
from testbench.slack.workspace import Message, Workspace


@pytest.fixture
def workspace() -> Workspace:
    workspace = Workspace()
    workspace.add_user("alice", user_id="U0ALICE")
    workspace.add_usergroup("S0ONCALL", ["U0ALICE"], handle="oncall")
    return workspace


def test_mentions_notify_and_read_as_names(workspace: Workspace) -> None:
    shown = mrkdwn("<@U0ALICE> <!subteam^S0ONCALL> <!here> <!channel|channel> <@U0NOBODY>",
                   workspace)
    assert shown.text == "@alice @oncall @here @channel @U0NOBODY"
    assert shown.mentions == ["@alice", "@oncall", "@here", "@channel", "@U0NOBODY"]


def test_escaped_controls_are_shown_and_notify_nobody(workspace: Workspace) -> None:
    shown = mrkdwn("&lt;!channel&gt; &lt;@U0ALICE&gt; a &amp;amp; b", workspace)
    assert shown.text == "<!channel> <@U0ALICE> a &amp; b"
    assert shown.mentions == []


def test_dates_read_as_dates_and_fall_back_on_unknown_tokens(workspace: Workspace) -> None:
    shown = mrkdwn("<!date^1795420800^{date_short_pretty} {time}|2026-11-23T08:00:00Z> · "
                   "<!date^1795420800^{date_num} {nonsense}|fallback>", workspace)
    assert shown.text == "Nov 23, 2026 08:00 · fallback"
    assert shown.dates == ["Nov 23, 2026 08:00", "fallback"]


def test_links_read_as_their_text_and_channels_by_name(workspace: Workspace) -> None:
    channel = workspace.add_channel("war-room")
    shown = mrkdwn(f"<https://x.example/a?b=1&amp;c=2|original message> <https://y.example> "
                   f"<#{channel.id}>", workspace)
    assert shown.text == "original message https://y.example #war-room"
    assert shown.links == [("original message", "https://x.example/a?b=1&c=2"),
                           ("https://y.example", "https://y.example"), ("#war-room", channel.id)]


def test_styling_markers_are_consumed_outside_code_only(workspace: Workspace) -> None:
    shown = mrkdwn("*Approved* _now_ ~old~ snake_case_name 2*3*4 `*kept*` ```_kept_```",
                   workspace)
    assert shown.text == "Approved now old snake_case_name 2*3*4 *kept* _kept_"
    assert shown.styled == [("code", "*kept*"), ("code", "_kept_"), ("bold", "Approved"),
                            ("italic", "now"), ("strike", "old")]


def test_plain_text_is_shown_as_it_is(workspace: Workspace) -> None:
    message = Message("C0X", "1.0", "U0BENCHBOT1", "fallback", blocks=[
        {"type": "header", "text": {"type": "plain_text", "text": "*a* <!channel>"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*b*"}},
        {"type": "actions", "elements": [{"type": "button", "action_id": "x",
                                          "text": {"type": "plain_text", "text": "Go"}}]}])
    shown = shown_message(message, workspace)
    assert shown.text == "*a* <!channel>\nb\n[Go]" and shown.mentions == []
    assert shown.buttons == ["Go"]


async def test_the_standin_shows_posted_messages() -> None:
    async with SlackStandin() as slack:
        slack.add_channel("flow-alerts")
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.chat_postMessage(channel="flow-alerts", text="*hi* <@U0BENCHBOT1>")
        [shown] = slack.shown("flow-alerts")
        assert shown.text == "hi @flowbot" and shown.mentions == ["@flowbot"]
        async with aiohttp.ClientSession() as http, http.get(
                f"{slack.base_url}/_standin/shown", params={"channel": "flow-alerts"}) as got:
            body = await got.json()
        assert body["messages"][0]["text"] == "hi @flowbot"
