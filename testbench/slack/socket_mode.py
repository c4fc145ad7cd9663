"""Socket Mode for the Slack stand-in: ``apps.connections.open`` and the WebSocket it hands
out, speaking Slack's envelope protocol so the bot's real Socket Mode client can connect.

The protocol, as Slack documents it: ``apps.connections.open`` (app-level ``xapp-`` token in
the ``Authorization`` header) answers ``{"ok": true, "url": "wss://…"}``; on connect the
server sends ``{"type": "hello", …}``; each delivery is an envelope ``{"envelope_id",
"type": "interactive" | "events_api" | "slash_commands", "payload",
"accepts_response_payload"}`` that the app acknowledges with ``{"envelope_id": …}`` on the
same socket; ``{"type": "disconnect", "reason": …}`` asks the app to reconnect.

A test delivers a click with ``await standin.socket_mode.deliver(payload)``, which waits for
the app to connect and returns its acknowledgement.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from aiohttp import WSMsgType, web

from testbench.slack.calls import CallLog
from testbench.slack.workspace import APP_ID, JSONObject

OPEN_PATH = "/api/apps.connections.open"
LINK_PATH = "/_standin/socket-mode/link"


class SocketModeHub:
    """Open sockets, one-time tickets, and envelopes waiting for their acknowledgement."""

    def __init__(self, log: CallLog) -> None:
        self._log = log
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[JSONObject]] = {}
        self.acks: list[JSONObject] = []
        """Every acknowledgement received, in order."""
        self.connections = 0
        """WebSockets accepted so far (a reconnect counts again)."""
        self.revoked: set[str] = set()
        """App-level tokens ``apps.connections.open`` answers with ``invalid_auth``."""

    def routes(self) -> list[web.RouteDef]:
        # Registered before the generic /api/{method} route, which only knows bot tokens.
        return [web.post(OPEN_PATH, self._open), web.get(LINK_PATH, self._link)]

    @property
    def connected(self) -> int:
        return sum(1 for socket in self._sockets if not socket.closed)

    async def deliver(self, payload: JSONObject, *, kind: str = "interactive",
                      accepts_response_payload: bool = False,
                      within: float = 10.0) -> JSONObject:
        """Send ``payload`` in an envelope to a connected app and return its ack. (Slack
        sets ``accepts_response_payload`` for modal submissions and slash commands, which
        may answer in the ack; button clicks answer through the Web API.)"""
        socket = await self._a_socket(within)
        envelope_id = f"{time.time():.0f}-{secrets.token_hex(8)}"
        acked: asyncio.Future[JSONObject] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = acked
        try:
            await socket.send_str(json.dumps({
                "envelope_id": envelope_id, "type": kind, "payload": payload,
                "accepts_response_payload": accepts_response_payload}))
            return await asyncio.wait_for(acked, within)
        finally:
            self._pending.pop(envelope_id, None)

    async def ask_to_reconnect(self, reason: str = "refresh_requested") -> None:
        """What Slack sends before it recycles a connection."""
        for socket in list(self._sockets):
            if not socket.closed:
                await socket.send_str(json.dumps({
                    "type": "disconnect", "reason": reason,
                    "debug_info": {"host": "slack-standin"}}))

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        self._sockets.clear()

    async def _a_socket(self, within: float) -> web.WebSocketResponse:
        deadline = time.monotonic() + within
        while True:
            for socket in self._sockets:
                if not socket.closed:
                    return socket
            if time.monotonic() > deadline:
                raise TimeoutError(f"Slack stand-in: no Socket Mode connection within {within}s")
            await asyncio.sleep(0.01)

    async def _open(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            body: JSONObject = {"ok": False, "error": "not_authed"}
        elif not token.startswith("xapp-"):
            body = {"ok": False, "error": "not_allowed_token_type"}
        elif token in self.revoked:
            body = {"ok": False, "error": "invalid_auth"}
        else:
            ticket = secrets.token_hex(16)
            self._tickets.add(ticket)
            body = {"ok": True,
                    "url": f"ws://{request.host}{LINK_PATH}?ticket={ticket}&app_id={APP_ID}"}
        self._log.record("apps.connections.open", {}, 200, body)
        return web.json_response(body)

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            raise web.HTTPUnauthorized(text="unknown or used Socket Mode ticket")
        self._tickets.discard(ticket)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        self.connections += 1
        await socket.send_str(json.dumps({
            "type": "hello", "num_connections": self.connected,
            "debug_info": {"host": "slack-standin", "approximate_connection_time": 3600},
            "connection_info": {"app_id": APP_ID}}))
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self._acknowledged(message.data)
        finally:
            if socket in self._sockets:
                self._sockets.remove(socket)
        return socket

    def _acknowledged(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            return
        if not isinstance(ack, dict) or not isinstance(ack.get("envelope_id"), str):
            return
        self.acks.append(ack)
        waiting = self._pending.get(ack["envelope_id"])
        if waiting is not None and not waiting.done():
            waiting.set_result(ack)
