"""A local Slack Web API: an aiohttp server on loopback that answers ``/api/<method>`` the way
slack.com does for the methods the bot uses, records every call, and can be told to fail.

It runs inside the test's event loop (``async with SlackStandin() as slack``) or as its own
process (``python -m testbench.slack serve``); ``/_standin/...`` (see ``control.py``) offers
the in-process inspection and set-up over HTTP for the second case.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from types import TracebackType

from aiohttp import web

from testbench.slack import control
from testbench.slack import params as p
from testbench.slack.calls import CallLog, RecordedCall
from testbench.slack.faults import Answer, ChannelRateLimit, Faults
from testbench.slack.methods import METHODS
from testbench.slack.render import Shown, shown_ephemeral, shown_message
from testbench.slack.socket_mode import SocketModeHub
from testbench.slack.workspace import (
    Channel,
    Ephemeral,
    JSONObject,
    Message,
    SlackError,
    Workspace,
)

SCOPES = ("chat:write,chat:write.public,channels:manage,channels:read,channels:history,"
          "groups:write,groups:read,groups:history,usergroups:read,users:read")


class SlackStandin:
    """The stand-in server and the in-process handle on its state."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 signing_secret: str | None = None, bot_token: str | None = None) -> None:
        self.host = host
        self._requested_port = port
        self.signing_secret = signing_secret or secrets.token_hex(16)
        self.bot_token = bot_token or f"xoxb-test-{secrets.token_hex(12)}"
        self.workspace = Workspace()
        self.log = CallLog()
        self.socket_mode = SocketModeHub(self.log)
        self.faults = Faults()
        self.rate_limit: ChannelRateLimit | None = None
        self.scopes = SCOPES  # what X-OAuth-Scopes says the token was granted
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(middlewares=[control.errors])
        app.router.add_routes(self.socket_mode.routes())
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_routes(control.routes(self))
        return app

    async def start(self) -> None:
        # A short shutdown timeout: the bot's keep-alive connections must not hold up stop().
        self._runner = web.AppRunner(self.application(), shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self.socket_mode.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandin:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the Slack stand-in is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What slack_sdk takes as ``base_url`` (the trailing slash matters to its urljoin)."""
        return f"{self.base_url}/api/"

    def env(self) -> dict[str, str]:
        return {"CHATBOT_SLACK_API_URL": self.api_url,
                "CHATBOT_SLACK_BOT_TOKEN": self.bot_token,
                "CHATBOT_SLACK_SIGNING_SECRET": self.signing_secret}

    def response_url(self, channel: str, ts: str) -> str:
        """A ``response_url`` for an interaction on message ``ts`` that acts on the stand-in."""
        return f"{self.base_url}/_standin/respond/{self._channel(channel).id}/{ts}"

    # -- inspection -----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        return self.log.calls(method)

    async def wait_for_calls(self, method: str | None, count: int = 1, *,
                             within: float = 10.0) -> list[RecordedCall]:
        return await self.log.wait_for(method, count, within=within)

    def messages(self, channel: str) -> list[Message]:
        """The channel's messages as they stand now, thread replies included, oldest first."""
        return self.workspace.messages(self._channel(channel))

    def views(self) -> list[JSONObject]:
        """The modals the bot opened with ``views.open``, oldest first."""
        return list(self.workspace.views)

    def ephemerals(self, channel: str | None = None) -> list[Ephemeral]:
        wanted = self._channel(channel).id if channel else None
        return [e for e in self.workspace.ephemerals if wanted in (None, e.channel)]

    def home_view(self, user_id: str) -> JSONObject | None:
        """The Home tab last published for ``user_id`` with ``views.publish``, if any."""
        return self.workspace.home_views.get(user_id)

    def shown(self, channel: str) -> list[Shown]:
        """The channel's messages as a person reads them (see ``render.py``), oldest first."""
        return [shown_message(m, self.workspace) for m in self.messages(channel)]

    def shown_ephemerals(self, channel: str | None = None) -> list[Shown]:
        return [shown_ephemeral(e, self.workspace) for e in self.ephemerals(channel)]

    def channel_id(self, name: str) -> str:
        return self._channel(name).id

    def _channel(self, ref: str) -> Channel:
        found = self.workspace.find_channel(ref)
        if found is None:
            raise LookupError(f"Slack stand-in has no channel {ref!r}")
        return found

    # -- set-up and control ---------------------------------------------------------------

    def add_channel(self, name: str, *, members: Iterable[str] = (),
                    is_private: bool = False) -> str:
        return self.workspace.add_channel(name, is_private=is_private,
                                          members=tuple(members)).id

    def add_user(self, name: str, *, user_id: str | None = None,
                 real_name: str | None = None, is_bot: bool = False) -> str:
        return self.workspace.add_user(name, user_id=user_id, real_name=real_name,
                                       is_bot=is_bot).id

    def add_usergroup(self, usergroup_id: str, users: Iterable[str], *,
                      handle: str | None = None) -> str:
        self.workspace.add_usergroup(usergroup_id, list(users), handle=handle)
        return usergroup_id

    def fail_next(self, n: int = 1, status: int = 429, retry_after: int | None = 1,
                  method: str | None = None, *, error: str | None = None,
                  channel: str | None = None) -> None:
        """Answer the next ``n`` calls (of ``method``, or any; to ``channel``, a name or ID,
        or any) with HTTP ``status`` and ``{"ok": false, "error": ...}`` (``ratelimited``
        for 429, ``internal_error`` for 5xx), with ``Retry-After`` unless ``retry_after``
        is None."""
        self.faults.add(n, status=status, retry_after=retry_after, method=method, error=error,
                        channel=self._channel(channel).id if channel else None)

    def enforce_rate_limit(self, per_channel_per_second: float | None = 1.0, *,
                           burst: int = 1) -> None:
        """Answer posts to a channel arriving faster than this with 429; None turns it off."""
        self.rate_limit = (None if per_channel_per_second is None
                           else ChannelRateLimit(per_channel_per_second, burst=burst))

    def reset(self, *, keep_setup: bool = False) -> None:
        """Forget calls, messages, faults and the rate limit; with ``keep_setup`` the
        channels, users and user groups stay, otherwise the workspace starts empty."""
        self.log.clear()
        self.faults.clear()
        self.rate_limit = None
        if keep_setup:
            self.workspace.clear_messages()
        else:
            self.workspace = Workspace()

    # -- the Web API ----------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, token, problem = await read_request(request)
        answer = self._answer(method, params, token, problem)
        self.log.record(method, params, answer.status, answer.body)
        return web.json_response(answer.body, status=answer.status,
                                 headers={"X-OAuth-Scopes": self.scopes, **answer.headers})

    def _answer(self, method: str, params: JSONObject, token: str | None,
                problem: str | None) -> Answer:
        target = params.get("channel")
        aimed = self.workspace.find_channel(target) if isinstance(target, str) else None
        fault = self.faults.take(method, aimed.id if aimed else None)
        if fault is not None:
            return fault
        try:
            if problem is not None:
                raise SlackError(problem)
            if not token:
                raise SlackError("not_authed")
            if token != self.bot_token:  # Slack knows only the tokens it issued
                raise SlackError("invalid_auth")
            handler = METHODS.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            if self.rate_limit is not None:
                channel = self.workspace.find_channel(p.text(params, "channel") or "")
                limited = self.rate_limit.admit(method, channel.id) if channel else None
                if limited is not None:
                    return limited
            return Answer(200, handler(self.workspace, params))
        except SlackError as error:
            return Answer(200, error.body())


async def read_request(request: web.Request) -> tuple[JSONObject, str | None, str | None]:
    """Arguments from the query string and a form or JSON body, the token (header or
    ``token`` argument), and the Slack error code for a body that cannot be read."""
    params: JSONObject = dict(request.query)
    problem = None
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.read())
            except ValueError:
                body, problem = {}, "invalid_json"
            if isinstance(body, dict):
                params.update(body)
            else:
                problem = "json_not_object"
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    p.decode_json_fields(params)
    token = params.pop("token", None)
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        token = credentials
    return params, token if isinstance(token, str) else None, problem
