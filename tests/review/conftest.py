"""The demo built in-process over a temporary directory with the samples replayed, and an HTTP
client for its review page on a real loopback socket."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chatbot.demo import SAMPLES, Demo, open_demo

ReviewClient = TestClient[web.Request, web.Application]


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    async with open_demo(tmp_path / "demo") as built:
        await built.replay(SAMPLES.read_bytes().splitlines())
        yield built


async def serve(app: web.Application) -> ReviewClient:
    client: ReviewClient = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def review(demo: Demo) -> AsyncIterator[ReviewClient]:
    client = await serve(demo.review_app)
    try:
        yield client
    finally:
        await client.close()


async def csrf_token(client: ReviewClient) -> str:
    """What the page hands its own script, read the way a same-origin page could."""
    page = await (await client.get("/")).text()
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found, "the page embeds no CSRF token"
    return found.group(1)
