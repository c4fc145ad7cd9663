"""The Slack stand-in speaks the Web API well enough for slack_sdk and slack-bolt, records
what it was asked, fails on request, and the signed requests verify as Slack's do."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from testbench.slack import SlackStandin
from testbench.slack.signing import (
    block_actions_payload,
    interaction_body,
    post_signed,
    sign,
    slash_command_body,
)

CARD: list[dict[str, object]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*checkout* → *payments:8443*"}},
    {"type": "actions", "block_id": "flow_actions", "elements": [
        {"type": "button", "action_id": "approve", "value": "anomaly-1", "style": "primary",
         "text": {"type": "plain_text", "text": "Approve"}},
    ]},
]


def client_for(standin: SlackStandin) -> AsyncWebClient:
    return AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)


async def test_a_posted_message_is_recorded_and_answered_with_its_ts(
        slack_standin: SlackStandin) -> None:
    channel_id = slack_standin.channel_id("flow-alerts")

    first = await client_for(slack_standin).chat_postMessage(
        channel="#flow-alerts", text="new flow", blocks=CARD)
    second = await client_for(slack_standin).chat_postMessage(channel=channel_id, text="again")

    assert first["channel"] == channel_id
    assert first["message"]["blocks"] == CARD
    assert float(second["ts"]) > float(first["ts"])
    [call, _] = slack_standin.calls("chat.postMessage")
    assert call.ok
    assert call.params == {"channel": "#flow-alerts", "text": "new flow", "blocks": CARD}
    assert [m.ts for m in slack_standin.messages("flow-alerts")] == [first["ts"], second["ts"]]


async def test_an_unknown_channel_and_a_missing_token_are_refused(
        slack_standin: SlackStandin) -> None:
    with pytest.raises(SlackApiError) as unknown:
        await client_for(slack_standin).chat_postMessage(channel="C0NOSUCH000", text="x")
    with pytest.raises(SlackApiError) as anonymous:
        await AsyncWebClient(base_url=slack_standin.api_url).auth_test()

    assert unknown.value.response["error"] == "channel_not_found"
    assert anonymous.value.response["error"] == "not_authed"


async def test_form_bodies_with_the_token_inside_are_understood_too(
        slack_standin: SlackStandin) -> None:
    form = {"token": slack_standin.bot_token, "channel": "war-room", "text": "form",
            "blocks": json.dumps(CARD)}
    async with aiohttp.ClientSession() as http, \
            http.post(f"{slack_standin.api_url}chat.postMessage", data=form) as answer:
        body = await answer.json()

    assert body["ok"]
    [call] = slack_standin.calls("chat.postMessage")
    assert call.params == {"channel": "war-room", "text": "form", "blocks": CARD}


async def test_a_429_is_retried_after_retry_after_by_slack_sdk(
        slack_standin: SlackStandin) -> None:
    client = client_for(slack_standin)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    slack_standin.fail_next(1, status=429, retry_after=1, method="chat.postMessage")
    started = time.monotonic()

    await client.chat_postMessage(channel="#flow-alerts", text="new flow")

    # slack_sdk sleeps Retry-After plus up to one second of jitter.
    assert 1.0 <= time.monotonic() - started < 3.0
    attempts = slack_standin.calls("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[0].response == {"ok": False, "error": "ratelimited"}
    assert len(slack_standin.messages("flow-alerts")) == 1


async def test_a_500_fails_the_call_unless_a_server_error_handler_retries(
        slack_standin: SlackStandin) -> None:
    slack_standin.fail_next(1, status=500)
    with pytest.raises(SlackApiError) as failed:
        await client_for(slack_standin).chat_postMessage(channel="#war-room", text="x")
    assert failed.value.response.status_code == 500

    client = client_for(slack_standin)
    client.retry_handlers.append(AsyncServerErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)))
    slack_standin.fail_next(1, status=500)
    answer = await client.chat_postMessage(channel="#war-room", text="x")

    assert answer["ok"]
    assert [c.status for c in slack_standin.calls()] == [500, 500, 200]
    assert len(slack_standin.messages("war-room")) == 1


async def test_conversations_create_validates_names_like_slack(
        slack_standin: SlackStandin) -> None:
    client = client_for(slack_standin)
    created = await client.conversations_create(name="incident-payments-1")
    assert created["channel"]["name"] == "incident-payments-1"

    for name, error in [("flow-alerts", "name_taken"), ("War Room", "invalid_name_specials"),
                        ("x" * 81, "invalid_name_maxlength"), ("--", "invalid_name_punctuation")]:
        with pytest.raises(SlackApiError) as refused:
            await client.conversations_create(name=name)
        assert refused.value.response["error"] == error, name


async def test_invites_and_usergroups(slack_standin: SlackStandin) -> None:
    alice = slack_standin.add_user("alice")
    bob = slack_standin.add_user("bob")
    slack_standin.add_usergroup("S0APPROVERS", [alice, bob])
    client = client_for(slack_standin)

    members = await client.usergroups_users_list(usergroup="S0APPROVERS")
    await client.conversations_invite(channel=slack_standin.channel_id("war-room"),
                                      users=[alice, bob])
    with pytest.raises(SlackApiError) as again:
        await client.conversations_invite(channel=slack_standin.channel_id("war-room"),
                                          users=[alice])
    with pytest.raises(SlackApiError) as unknown:
        await client.usergroups_users_list(usergroup="S0NOSUCH")

    assert members["users"] == [alice, bob]
    assert again.value.response["error"] == "already_in_channel"
    assert unknown.value.response["error"] == "no_such_subteam"


async def test_history_is_newest_first_with_metadata_and_pages(
        slack_standin: SlackStandin) -> None:
    client = client_for(slack_standin)
    channel_id = slack_standin.channel_id("flow-alerts")
    posted = []
    for n in range(3):
        answer = await client.chat_postMessage(
            channel=channel_id, text=f"flow {n}",
            metadata={"event_type": "flow_anomaly", "event_payload": {"anomaly_id": f"a{n}"}})
        posted.append(answer["ts"])
    await client.chat_update(channel=channel_id, ts=posted[0], text="flow 0: approved")

    full = await client.conversations_history(channel=channel_id, include_all_metadata=True)
    bare = await client.conversations_history(channel=channel_id)
    page = await client.conversations_history(channel=channel_id, limit=2)
    rest = await client.conversations_history(
        channel=channel_id, limit=2, cursor=page["response_metadata"]["next_cursor"])

    assert [m["ts"] for m in full["messages"]] == posted[::-1]
    assert [m["metadata"]["event_payload"]["anomaly_id"] for m in full["messages"]] == \
        ["a2", "a1", "a0"]
    assert full["messages"][2]["text"] == "flow 0: approved"
    assert "edited" in full["messages"][2]
    assert all("metadata" not in m for m in bare["messages"])
    assert page["has_more"]
    assert not rest["has_more"]
    assert [m["ts"] for m in page["messages"] + rest["messages"]] == posted[::-1]


async def test_oversized_blocks_are_refused_like_slack(slack_standin: SlackStandin) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as refused:
        await client_for(slack_standin).chat_postMessage(
            channel="#flow-alerts", text="x", blocks=too_long)
    assert refused.value.response["error"] == "invalid_blocks"
    assert refused.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]


async def test_the_per_channel_rate_limit_answers_429(slack_standin: SlackStandin) -> None:
    slack_standin.enforce_rate_limit(per_channel_per_second=1.0)
    client = client_for(slack_standin)
    await client.chat_postMessage(channel="#flow-alerts", text="1")
    await client.chat_postMessage(channel="#war-room", text="other channel")
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="#flow-alerts", text="2")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"


async def test_the_control_api_sets_up_and_inspects_over_http(
        slack_standin: SlackStandin) -> None:
    base = f"{slack_standin.base_url}/_standin"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/channels", json={"name": "flows-ci"}) as created:
            channel_id = (await created.json())["id"]
        async with http.post(f"{base}/faults", json={"count": 1, "status": 503}):
            pass
        client = client_for(slack_standin)
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel=channel_id, text="x")
        await client.chat_postMessage(channel=channel_id, text="y")
        async with http.get(f"{base}/calls", params={"method": "chat.postMessage"}) as calls:
            recorded = (await calls.json())["calls"]
        async with http.get(f"{base}/messages", params={"channel": "flows-ci"}) as messages:
            stored = (await messages.json())["messages"]

    assert [c["status"] for c in recorded] == [503, 200]
    assert [m["text"] for m in stored] == ["y"]


def test_signed_requests_verify_with_slack_sdk_and_tampering_does_not() -> None:
    secret = secrets.token_hex(16)
    verifier = SignatureVerifier(secret)
    payload = block_actions_payload(user_id="U0ALICE0001", action_id="approve",
                                    value="anomaly-1", channel_id="C0FLOWS0001",
                                    message_ts="1700000000.000100")
    body = interaction_body(payload)
    now = int(time.time())

    headers = sign(secret, body, now)
    stale = sign(secret, body, now - 6 * 60)

    assert json.loads(parse_qs(body.decode())["payload"][0]) == payload
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body.replace(b"approve", b"block__"), headers)
    assert not verifier.is_valid_request(body, stale)
    command = slash_command_body(command="/flows", text="pending", user_id="U0ALICE0001",
                                 channel_id="C0FLOWS0001")
    assert verifier.is_valid_request(command, sign(secret, command, now))


async def test_a_signed_click_drives_a_bolt_app_against_the_standin(
        slack_standin: SlackStandin, slack_signing_secret: str) -> None:
    client = client_for(slack_standin)
    posted = await client.chat_postMessage(channel="#flow-alerts", text="new flow", blocks=CARD)
    app = AsyncApp(client=client, signing_secret=slack_signing_secret)

    @app.action("approve")
    async def approve(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(replace_original=True, text="Approved by <@U0ALICE0001>")

    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        payload = block_actions_payload(
            user_id="U0ALICE0001", action_id="approve", value="anomaly-1",
            channel_id=posted["channel"], message_ts=posted["ts"],
            response_url=slack_standin.response_url("flow-alerts", posted["ts"]))
        url = f"http://127.0.0.1:{port}/slack/events"
        accepted = await post_signed(url, interaction_body(payload), slack_signing_secret)
        forged = await post_signed(url, interaction_body(payload), "not-the-secret")
        await slack_standin.wait_for_calls("response_url")
    finally:
        await runner.cleanup()

    assert accepted[0] == 200
    assert forged[0] == 401
    assert [c.method for c in slack_standin.calls()] == \
        ["chat.postMessage", "auth.test", "response_url"]
    [message] = slack_standin.messages("flow-alerts")
    assert message.text == "Approved by <@U0ALICE0001>"
    assert message.blocks == []


async def test_views_publish_keeps_each_persons_last_home_tab_and_refuses_bad_views(
        slack_standin: SlackStandin) -> None:
    client = client_for(slack_standin)
    first = await client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": CARD})
    second = await client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": []})
    assert first["view"]["id"] and second["view"]["blocks"] == []
    home = slack_standin.home_view("U0ALICE")
    assert home is not None and home["blocks"] == [] and slack_standin.home_view("U0BOB") is None

    too_many = [{"type": "divider"}] * 101
    for user_id, view in (("not-a-user", {"type": "home", "blocks": []}),
                          ("U0ALICE", {"type": "modal", "blocks": []}),
                          ("U0ALICE", {"type": "home", "blocks": too_many})):
        with pytest.raises(SlackApiError) as refused:
            await client.views_publish(user_id=user_id, view=view)
        assert refused.value.response["error"] == "invalid_arguments"
    assert len(slack_standin.calls("views.publish")) == 5
    assert await client.views_publish(user_id="U0ALICE",
                                      view={"type": "home", "blocks": too_many[:100]})
