"""The review page in a real browser (Debian's headless Chromium, never skipped).

A reviewer approves a benign sample flow in one click and blocks a look-alike domain in one
click; finds the critical raw-IP flow already escalated into the war-room view; meets a
confirmation on its risky Approve and a justification field that refuses to be empty; sees a
two-person rule count votes as the page switches between the demo's approvers; and revokes an
applied approval, after which the workload's YAML file no longer holds the target. The cards
update in place, and screenshots are kept in artifacts/."""

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


async def visible(page: Page, anomaly_id: str) -> bool:
    return bool(await page.evaluate(f"!document.querySelector({json.dumps(card(anomaly_id))})"
                                    ".hidden"))


async def test_a_reviewer_decides_escalates_justifies_and_revokes_in_a_real_browser(
        tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    intents = workdir / "intents"
    async with running_demo(workdir, free_port()) as demo, \
            headless_chromium(tmp_path / "chromium") as page:
        ids = await anomaly_ids(demo.url)
        games = ids["web → rps/game-api", "GET /api/v1/games"]
        lookalike = ids["matchmaker → telemetry.mmkr-update.xyz", None]
        raw_ip = ids["matchmaker → 185.220.101.34", None]
        vault = ids["stats → pci-payments/card-vault", "POST /v1/cards/search"]
        await page.goto(demo.url)
        await page.wait_for("document.querySelectorAll('article.card').length === 23")
        await page.evaluate("window.notReloaded = true")

        # A benign flow: one click, no question; the grant is stated as it is.
        assert "every port of Service rps/game-api" in await text_of(page, card(games))
        assert "written but not enforced" in await text_of(page, card(games))
        await page.click(f'{card(games)} button[data-action="approve"]')
        await state_of(page, games, "applied")
        assert "Approved by @U0DEMO" in await text_of(page, card(games))
        assert "File web.rps.yaml" in await text_of(page, f"{card(games)} details.file")
        # The client's other open cards now show its intents as they stand.
        moves = ids["web → rps/game-api", "POST /api/v1/moves"]
        await page.wait_for(f"document.querySelector({json.dumps(card(moves))}).textContent"
                            ".includes('service game-api: GET /api/v1/games')")

        # Blocking writes nothing, so it asks nothing — even for a worrying flow.
        await page.click(f'{card(lookalike)} button[data-action="block"]')
        await state_of(page, lookalike, "blocked")
        assert "Blocked by @U0DEMO" in await text_of(page, card(lookalike))

        # The critical flow escalated on its own, into the war-room view.
        await page.click('#tabs button[data-tab="war-room"]')
        await state_of(page, raw_ip, "escalated")
        assert await visible(page, raw_ip) and await visible(page, vault)
        assert not await visible(page, games)
        assert await page.evaluate("document.getElementById('n-war-room').textContent") == "3"
        assert "escalated because the flow is critical" in await text_of(page, card(raw_ip))
        assert "Risky: severity high or critical" in await text_of(page, card(raw_ip))
        await page.screenshot(ARTIFACTS / "review-war-room.png", full_page=False)

        # Its Approve asks first, and wants words.
        await page.click(f'{card(raw_ip)} button[data-action="approve"]')
        confirm = f"{card(raw_ip)} .confirm"
        assert "Approve a risky flow?" in await text_of(page, confirm)
        assert "a raw IP address" in await text_of(page, confirm)
        await page.click(f'{confirm} button[data-confirmed="true"]')
        await page.wait_for(f"!!document.querySelector('{confirm} .field-error')")
        assert "Write why" in await text_of(page, f"{confirm} .field-error")
        assert await page.evaluate(f"document.querySelector({json.dumps(card(raw_ip))})"
                                   ".dataset.state") == "escalated"
        await page.type_text(f'{confirm} textarea', "IR-88: sinkhole test, remove by Friday")
        await page.click(f'{confirm} button[data-confirmed="true"]')
        await state_of(page, raw_ip, "applied")
        assert "IR-88: sinkhole test" in await text_of(page, card(raw_ip))
        raw = yaml.safe_load((intents / "matchmaker.rps.yaml").read_text())
        assert raw["spec"]["targets"] == [{"internet": {"ips": ["185.220.101.34"],
                                                        "ports": [4444]}}]

        # Payment data: two approvers, each with a reason; the page counts the votes.
        await page.click(f'{card(vault)} button[data-action="approve"]')
        await page.type_text(f'{card(vault)} .confirm textarea', "PAY-12 fraud check")
        await page.click(f'{card(vault)} .confirm button[data-confirmed="true"]')
        await page.wait_for(f"document.querySelector({json.dumps(card(vault))})"
                            ".textContent.includes('(1 of 2)')")
        await page.evaluate("const s = document.getElementById('decide-as');"
                            "s.value = 'U0DEMO2'; s.dispatchEvent(new Event('change'))")
        await page.click(f'{card(vault)} button[data-action="approve"]')
        await page.type_text(f'{card(vault)} .confirm textarea', "agreed")
        await page.click(f'{card(vault)} .confirm button[data-confirmed="true"]')
        await state_of(page, vault, "applied")
        assert "Approved by @U0DEMO2" in await text_of(page, card(vault))

        # Revoke takes exactly the approved target back out of the file.
        await page.click('#tabs button[data-tab="all"]')
        await page.click(f'{card(games)} button[data-action="revoke"]')
        assert "Revoke this access?" in await text_of(page, f"{card(games)} .confirm")
        await page.click(f'{card(games)} .confirm button[data-confirmed="true"]')
        await state_of(page, games, "revoked")
        assert "Revoked by @U0DEMO2" in await text_of(page, card(games))
        assert "asks for a new decision" in await text_of(page, card(games))
        document = yaml.safe_load((intents / "web.rps.yaml").read_text())
        assert document["spec"]["workload"]["name"] == "web"
        assert document["spec"]["targets"] == []
        assert not any(key.startswith("flow-approval-chatbot/grant.")
                       for key in (document["metadata"].get("annotations") or {}))
        vault_file = yaml.safe_load((intents / "stats.rps.yaml").read_text())
        assert vault_file["spec"]["targets"][0]["service"]["name"] == "card-vault.pci-payments"

        mention = ids["web → rps/game-api", "GET /api/v1/players/<!channel>/profile"]
        assert "/api/v1/players/<!channel>/profile" in await text_of(page, card(mention))
        assert await page.evaluate("document.querySelectorAll('channel').length") == 0
        assert await page.evaluate("window.notReloaded") is True

        await page.click('#tabs button[data-tab="audit"]')
        await page.wait_for("[...document.querySelectorAll('#audit-rows tr')]"
                            ".some(row => row.textContent.includes('remove'))")
        await page.screenshot(ARTIFACTS / "review-audit.png", full_page=False)
        await page.click('#tabs button[data-tab="all"]')
        await page.evaluate("document.getElementById('notice').hidden = true; scrollTo(0, 0)")
        await page.screenshot(ARTIFACTS / "review-page.png")
        # Chromium logs every 4xx answer; the one expected is the empty justification's 422.
        assert [e for e in page.errors if "(Unprocessable Entity)" not in e] == []
        assert len(page.errors) == 1

        assert await demo.interrupt() == 0
