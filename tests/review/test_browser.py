"""The review page in a real browser (Debian's headless Chromium, never skipped): a reviewer
approves one sample anomaly, blocks another and escalates a third; the cards update in place,
the approved flow lands in its workload's YAML file, and screenshots are kept in artifacts/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.review.cdp import Page, headless_chromium
from tests.review.demo_process import free_port, running_demo

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def card(anomaly_id: str) -> str:
    return f'article[data-anomaly-id="{anomaly_id}"]'


async def anomaly_ids(url: str) -> dict[tuple[str, str | None], str]:
    """Card ids by (title, HTTP fact), read from the API the page itself polls."""
    async with aiohttp.ClientSession() as http, http.get(url + "api/anomalies") as response:
        body: dict[str, Any] = await response.json()
    return {(c["title"], dict(c["facts"]).get("HTTP")): c["id"] for c in body["anomalies"]}


async def state_of(page: Page, anomaly_id: str, state: str) -> None:
    await page.wait_for(
        f"document.querySelector({json.dumps(card(anomaly_id))})?.dataset.state === '{state}'")


async def text_of(page: Page, selector: str) -> str:
    text = await page.evaluate(f"document.querySelector({json.dumps(selector)}).textContent")
    return str(text)


async def test_a_reviewer_approves_blocks_and_escalates_in_a_real_browser(
        tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    async with running_demo(workdir, free_port()) as demo, \
            headless_chromium(tmp_path / "chromium") as page:
        ids = await anomaly_ids(demo.url)
        approve = ids["web → rps/game-api", "GET /api/v1/games"]
        block = ids["matchmaker → telemetry.mmkr-update.xyz", None]
        escalate = ids["stats → pci-payments/card-vault", "POST /v1/cards/search"]
        await page.goto(demo.url)
        await page.wait_for("document.querySelectorAll('article.card').length === 23")
        await page.evaluate("window.notReloaded = true")

        await page.click(f'{card(approve)} button[data-action="approve"]')
        await state_of(page, approve, "applied")
        assert "Approved by @U0DEMO" in await text_of(page, card(approve))
        assert "File web.rps.yaml" in await text_of(page, f"{card(approve)} details.file")

        await page.click(f'{card(block)} button[data-action="block"]')
        assert "Block this flow?" in await text_of(page, f"{card(block)} .confirm")
        await page.click(f'{card(block)} button[data-confirmed="true"]')
        await state_of(page, block, "blocked")
        assert "Blocked by @U0DEMO" in await text_of(page, card(block))

        await page.click(f'{card(escalate)} button[data-action="escalate"]')
        await state_of(page, escalate, "escalated")
        assert "Escalated" in await text_of(page, card(escalate))
        assert await page.evaluate(
            f"document.querySelectorAll('{card(escalate)} button[data-action]').length") == 2

        document = yaml.safe_load((workdir / "intents" / "web.rps.yaml").read_text())
        assert document["spec"]["workload"]["name"] == "web"
        assert document["spec"]["targets"] == [{"service": {
            "name": "game-api", "http": [{"path": "/api/v1/games", "methods": ["GET"]}]}}]
        assert not (workdir / "intents" / "matchmaker.rps.yaml").exists()
        assert not (workdir / "intents" / "stats.rps.yaml").exists()

        channel = ids["web → rps/game-api", "GET /api/v1/players/<!channel>/profile"]
        assert "/api/v1/players/<!channel>/profile" in await text_of(page, card(channel))
        assert await page.evaluate("document.querySelectorAll('channel').length") == 0
        assert await page.evaluate("document.querySelectorAll('#n-open')[0].textContent") == "21"
        assert await page.evaluate("window.notReloaded") is True

        await page.click('#tabs button[data-tab="audit"]')
        await page.wait_for("[...document.querySelectorAll('#audit-rows tr')]"
                            ".some(row => row.textContent.includes('escalate'))")
        await page.screenshot(ARTIFACTS / "review-audit.png", full_page=False)
        await page.click('#tabs button[data-tab="all"]')
        await page.click(f"{card(approve)} details.file summary")
        assert "kind: ClientIntents" in await text_of(page, f"{card(approve)} details.file pre")
        await page.evaluate("document.getElementById('notice').hidden = true; scrollTo(0, 0)")
        await page.screenshot(ARTIFACTS / "review-page.png")
        assert page.errors == []

        assert await demo.interrupt() == 0
