"""The forge's webhook at ``/forge/webhook`` of the service's HTTP app: Gitea's own signed
delivery of a merge makes the card ``applied`` with no poll; a forged delivery (wrong or no
signature) is answered 401 and changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.forge.webhook import GITEA_SIGNATURE_HEADER, signature
from chatbot.lifecycle import State
from chatbot.metrics import Metrics
from chatbot.web.forge_hook import forge_webhook
from chatbot.web.server import make_web_app
from testbench.gitea import GiteaRepo, GiteaServer
from testbench.process import free_port
from tests.gitops.harness import Story, story

SECRET = "hook-secret-for-tests"


@pytest.fixture
async def hooked(sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
                 gitea_repo: GiteaRepo, tmp_path: Path) -> AsyncIterator[tuple[Story, str]]:
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path) as s:
        app = make_web_app(bolt=None, metrics=Metrics(), probes={},
                           forge_webhook=forge_webhook(forge="gitea", secret=SECRET,
                                                       observe=s.proposer.observe))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}/forge/webhook"
        gitea_server.api("POST", s.api_path("/hooks"), {
            "type": "gitea", "active": True, "events": ["pull_request"],
            "config": {"url": url, "content_type": "json", "secret": SECRET}})
        try:
            yield s, url
        finally:
            await runner.cleanup()


async def until_state(s: Story, anomaly_id: str, state: State, *, within: float) -> None:
    async def reached() -> None:
        while (await s.card(anomaly_id)).state is not state:  # noqa: ASYNC110 - a DB row
            await asyncio.sleep(0.2)

    await asyncio.wait_for(reached(), within)


async def test_a_forged_webhook_is_refused_and_changes_nothing(hooked: tuple[Story, str]) -> None:
    s, url = hooked
    anomaly_id = await s.approve("e1")
    await s.window_passes()
    (pull,) = s.pulls()
    before = await s.audit(anomaly_id)
    forged = json.dumps({"action": "closed", "pull_request": {
        **pull, "state": "closed", "merged": True}}).encode()
    async with aiohttp.ClientSession() as http:
        for headers in ({GITEA_SIGNATURE_HEADER: signature(secret="guessed", body=forged)},
                        {}):
            async with http.post(url, data=forged, headers={
                    **headers, "X-Gitea-Event": "pull_request",
                    "Content-Type": "application/json"}) as answer:
                assert answer.status == 401
    card = await s.card(anomaly_id)
    assert card.state is State.PROPOSED
    assert await s.audit(anomaly_id) == before


async def test_gitea_s_signed_merge_webhook_makes_the_card_applied_without_a_poll(
    hooked: tuple[Story, str],
) -> None:
    s, _url = hooked
    anomaly_id = await s.approve("e1")
    await s.window_passes()
    (pull,) = s.pulls()
    await asyncio.to_thread(s.merge, pull["number"])
    await until_state(s, anomaly_id, State.APPLIED, within=30)
    latest = (await s.audit(anomaly_id))[0]
    assert (latest.action, latest.detail["seen_by"]) == ("merge", "webhook")
