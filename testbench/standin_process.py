"""The Slack stand-in as its own process (``python -m testbench.slack serve``), driven over its
``/_standin/…`` control API.

Fault tests use it instead of the in-process stand-in because they block their own event
loop now and then (restarting Kafka, stopping the apiserver): a stand-in in another process
keeps answering the service meanwhile, and keeps its messages across service crashes.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from testbench.process import BenchError, Server, free_port, port_open, spawn

COMPONENT = "slack-standin"
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0
Json = dict[str, Any]


@dataclass
class StandinProcess:
    server: Server
    port: int
    signing_secret: str
    bot_token: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"CHATBOT_SLACK_API_URL": f"{self.base_url}/api/",
                "CHATBOT_SLACK_BOT_TOKEN": self.bot_token,
                "CHATBOT_SLACK_SIGNING_SECRET": self.signing_secret}

    async def messages(self, channel: str) -> list[Json]:
        """The channel's messages as they stand now (thread replies too), oldest first."""
        found: list[Json] = (await self._call("GET", "messages", {"channel": channel}))[
            "messages"]
        return found

    async def calls(self, method: str | None = None) -> list[Json]:
        query = {"method": method} if method else {}
        found: list[Json] = (await self._call("GET", "calls", query))["calls"]
        return found

    async def channel_ids(self) -> dict[str, str]:
        listed = (await self._call("GET", "channels", {}))["channels"]
        return {str(channel["name"]): str(channel["id"]) for channel in listed}

    async def fail_next(self, count: int, *, status: int = 429, retry_after: int | None = 1,
                        method: str | None = None) -> None:
        """The next ``count`` Web API calls (of ``method``) answer ``status``."""
        body: Json = {"count": count, "status": status,
                      "retry_after": None if retry_after is None else str(retry_after)}
        if method:
            body["method"] = method
        await self._call("POST", "faults", body)

    def stop(self) -> None:
        self.server.stop(grace=5.0)

    async def _call(self, verb: str, path: str, payload: Json) -> Json:
        url = f"{self.base_url}/_standin/{path}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            request = (http.get(url, params=payload) if verb == "GET"
                       else http.post(url, json=payload))
            async with request as response:
                body: Json = await response.json()
                if response.status != 200:
                    raise BenchError(COMPONENT, f"{verb} {path} -> {response.status}: {body}")
                return body


async def start_standin(workdir: Path, *, channels: Iterable[str],
                        users: Iterable[str] = ()) -> StandinProcess:
    """Start a stand-in with these channels (names) and users (Slack IDs) on a free port."""
    port = free_port()
    secret, token = secrets.token_hex(16), f"xoxb-fault-{secrets.token_hex(12)}"
    argv = [sys.executable, "-m", "testbench.slack", "serve", "--port", str(port)]
    argv += [arg for name in channels for arg in ("--channel", name)]
    argv += [arg for user in users for arg in ("--user", f"{user}:{user.lower()}")]
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    server = spawn(COMPONENT, argv, log=workdir / "slack-standin.log", cwd=ROOT,
                   env={"CHATBOT_SLACK_SIGNING_SECRET": secret, "CHATBOT_SLACK_BOT_TOKEN": token})
    deadline = time.monotonic() + START_TIMEOUT
    while not port_open(port):
        if not server.alive() or time.monotonic() > deadline:
            server.stop(grace=1.0)
            raise BenchError(COMPONENT, f"not serving on port {port}", server.log)
        await asyncio.sleep(0.1)
    return StandinProcess(server=server, port=port, signing_secret=secret, bot_token=token)
