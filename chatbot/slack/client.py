"""The Slack Web API client and the bolt app, built from settings in one place."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from chatbot.approvers import GroupLookup
from chatbot.config.settings import SlackSettings
from chatbot.errors import ConfigError


def web_client(settings: SlackSettings) -> AsyncWebClient:
    if not settings.bot_token:
        raise ConfigError("CHATBOT_SLACK_BOT_TOKEN is required to talk to Slack")
    base_url = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    # No retry handlers: the outbox honours Retry-After itself, per channel, without
    # sleeping inside a call that other work is waiting behind.
    return AsyncWebClient(token=settings.bot_token.reveal(), base_url=base_url, timeout=15)


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
