"""The Slack Web API client and the bolt app, built from settings in one place."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import async_default_handlers
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.approvers import GroupLookup
from chatbot.config.settings import SlackSettings
from chatbot.errors import ConfigError
from chatbot.slack.counting import CallCounter, OnCall


def web_client(settings: SlackSettings, *,
               on_call: OnCall = lambda _method, _outcome: None) -> AsyncWebClient:
    """``on_call`` hears of every Web API call made through this client or a copy bolt
    makes of it for a listener (see :mod:`chatbot.slack.counting`)."""
    if not settings.bot_token:
        raise ConfigError("CHATBOT_SLACK_BOT_TOKEN is required to talk to Slack")
    base_url = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    # Besides the counter only slack_sdk's default (one retry of a dropped connection): no
    # rate-limit retries, the outbox honours Retry-After itself, per channel, without
    # sleeping inside a call that other work is waiting behind.
    return AsyncWebClient(token=settings.bot_token.reveal(), base_url=base_url, timeout=15,
                          retry_handlers=[CallCounter(on_call), *async_default_handlers()])


def bolt_app(settings: SlackSettings, client: AsyncWebClient) -> AsyncApp:
    if not settings.signing_secret:
        raise ConfigError("CHATBOT_SLACK_SIGNING_SECRET is required to verify Slack requests")
    return AsyncApp(client=client, signing_secret=settings.signing_secret.reveal(),
                    process_before_response=False, request_verification_enabled=True)


def group_lookup(client: AsyncWebClient) -> GroupLookup:
    async def members(group_id: str) -> frozenset[str]:
        response = await client.usergroups_users_list(usergroup=group_id)
        users: list[str] = response.get("users", [])
        return frozenset(users)

    return members
