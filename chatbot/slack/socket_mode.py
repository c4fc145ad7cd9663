"""Slack over Socket Mode: the same bolt app, reached over a WebSocket the service opens.

With ``CHATBOT_SLACK_APP_TOKEN`` set, the composition root starts this next to (not instead
of) the HTTP server, which keeps serving the probes and ``/metrics``. Slack then delivers
button clicks as envelopes on the socket; bolt acks each one on the socket and runs the same
listeners as for ``/slack/events`` (no request signature: the app-level token authenticated
the connection). Clusters without an Ingress can run the bot this way.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from chatbot.errors import ConfigError, TemporaryError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 30.0
# Slack drops a Socket Mode connection now and then; the client pings this often and
# reconnects (through apps.connections.open) when the pongs stop.
PING_INTERVAL = 10.0
_REFUSED_TOKEN = {"invalid_auth", "not_authed", "not_allowed_token_type", "account_inactive",
                  "token_revoked", "missing_scope"}


@dataclass
class SocketModeRunner:
    """A connected Socket Mode session; ``close()`` disconnects it for good."""

    handler: AsyncSocketModeHandler

    async def connected(self) -> bool:
        """For a readiness probe: is the WebSocket up (the client reconnects on its own)?"""
        return bool(await self.handler.client.is_connected())

    async def close(self) -> None:
        await self.handler.close_async()  # type: ignore[no-untyped-call]


async def start_socket_mode(app: AsyncApp, app_token: str, *,
                            connect_timeout: float = CONNECT_TIMEOUT) -> SocketModeRunner:
    """Open the WebSocket for ``app`` with the app-level token (``xapp-…``).

    A token Slack refuses is a :class:`ConfigError` (retrying cannot help); a Slack that
    cannot be reached within ``connect_timeout`` is a :class:`TemporaryError`.
    """
    if not app_token.startswith("xapp-"):
        raise ConfigError("CHATBOT_SLACK_APP_TOKEN must be an app-level token (xapp-…) with "
                          "the connections:write scope")
    handler = AsyncSocketModeHandler(app, app_token, ping_interval=PING_INTERVAL)
    try:
        # Ask for the URL once ourselves: the client's own connect() retries every failure
        # forever, which would hide a revoked or mistyped token behind a hung start-up.
        handler.client.wss_uri = await handler.client.issue_new_wss_url()
        await asyncio.wait_for(handler.connect_async(),  # type: ignore[no-untyped-call]
                               connect_timeout)
    except SlackApiError as error:
        await handler.close_async()  # type: ignore[no-untyped-call]
        code = str(error.response.get("error", ""))
        if code in _REFUSED_TOKEN:
            raise ConfigError(f"Slack refused CHATBOT_SLACK_APP_TOKEN ({code})") from error
        raise TemporaryError(f"Slack apps.connections.open failed: {code}", delay=5.0) from error
    except (TimeoutError, OSError, aiohttp.ClientError) as error:
        await handler.close_async()  # type: ignore[no-untyped-call]
        raise TemporaryError(f"could not open the Slack Socket Mode connection: {error!r}",
                             delay=5.0) from error
    log.info("connected to Slack over Socket Mode")
    return SocketModeRunner(handler)
