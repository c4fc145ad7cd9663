"""The review page's filter and paging controls in a real browser (headless Chromium, never
skipped): choosing a severity narrows the cards the server sends, the Decided tab asks the
server for decided flows only, the page line counts the matches and the namespace choices
come from the server. (Paging itself is walked in test_review_filters.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.review.cdp import Page, headless_chromium
from tests.review.demo_process import free_port, running_demo

CARDS = "document.querySelectorAll('article.card')"


async def choose(page: Page, select: str, value: str) -> None:
    await page.evaluate(f"(() => {{ const s = document.getElementById('{select}'); "
                        f"s.value = '{value}'; s.dispatchEvent(new Event('change')); }})()")


async def test_severity_state_and_pages_are_asked_of_the_server(tmp_path: Path) -> None:
    async with running_demo(tmp_path / "demo", free_port()) as demo, \
            headless_chromium(tmp_path / "chromium") as page:
        await page.goto(demo.url)
        await page.wait_for(f"{CARDS}.length === 23")
        assert await page.evaluate("document.getElementById('page-info').textContent") == \
            "1–23 of 23"
        assert await page.evaluate("document.getElementById('page-next').disabled") is True

        await choose(page, "f-severity", "critical")
        await page.wait_for(f"{CARDS}.length > 0 && [...{CARDS}].every("
                            "c => c.classList.contains('sev-critical'))")
        matching = await page.evaluate("document.getElementById('page-info').textContent")
        assert str(matching).endswith(f"of {await page.evaluate(f'{CARDS}.length')}")

        await choose(page, "f-severity", "")
        await page.click('#tabs button[data-tab="decided"]')
        await page.wait_for(f"{CARDS}.length === 0")
        assert await page.evaluate("document.getElementById('page-info').textContent") == \
            "0–0 of 0"
        await page.click('#tabs button[data-tab="all"]')
        await page.wait_for(f"{CARDS}.length === 23")
        assert await page.evaluate(
            "[...document.getElementById('f-namespace').options].map(o => o.value)") == \
            ["", "kafka", "monitoring", "rps"]
        assert page.errors == []
        assert await demo.interrupt() == 0
