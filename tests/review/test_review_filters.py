"""The review list filtered by namespace, severity and state and paged, over the demo with
the samples replayed: every page together holds every match exactly once, a long history
is paged instead of cut at 500, and a bad filter is refused in words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from chatbot.demo import Demo, open_demo
from chatbot.review.guard import CSRF_HEADER
from tests.review.conftest import ReviewClient, csrf_token, serve

View = dict[str, Any]


async def listing(client: ReviewClient, **query: str | int) -> View:
    response = await client.get("/api/anomalies", params={k: str(v) for k, v in query.items()})
    assert response.status == 200, await response.text()
    body: View = await response.json()
    return body


async def test_paging_walks_every_anomaly_once_in_the_same_order(review: ReviewClient) -> None:
    whole = await listing(review)
    assert whole["page"] == {"offset": 0, "limit": 50, "matching": 23}
    seen: list[str] = []
    for offset in range(0, 25, 5):
        page = await listing(review, offset=offset, limit=5)
        assert page["page"]["matching"] == 23 and len(page["anomalies"]) <= 5
        seen += [card["id"] for card in page["anomalies"]]
    assert seen == [card["id"] for card in whole["anomalies"]]  # once each, same order
    assert (await listing(review, offset=40))["anomalies"] == []


async def test_filters_narrow_the_list_and_count_the_matches(review: ReviewClient) -> None:
    whole = (await listing(review))["anomalies"]
    assert set((await listing(review))["namespaces"]) == {c["client"]["namespace"] for c in whole}

    rps = await listing(review, namespace="rps")
    assert rps["page"]["matching"] == len([c for c in whole if c["client"]["namespace"] == "rps"])
    assert {c["client"]["namespace"] for c in rps["anomalies"]} == {"rps"}

    severe = await listing(review, severity="high,critical")
    assert {c["severity"] for c in severe["anomalies"]} == {"high", "critical"}
    assert severe["page"]["matching"] == len(
        [c for c in whole if c["severity"] in {"high", "critical"}])

    both = await listing(review, namespace="rps", severity="low")
    assert both["anomalies"] and all(c["client"]["namespace"] == "rps" and
                                     c["severity"] == "low" for c in both["anomalies"])


async def test_the_state_filter_follows_decisions(review: ReviewClient) -> None:
    card = (await listing(review, severity="low", limit=1))["anomalies"][0]
    response = await review.post(f"/api/anomalies/{card['id']}/block",
                                 headers={CSRF_HEADER: await csrf_token(review)})
    assert response.status == 200, await response.text()

    decided = await listing(review, state="decided")
    assert [c["id"] for c in decided["anomalies"]] == [card["id"]]
    assert (await listing(review, state="blocked"))["page"]["matching"] == 1
    still_open = await listing(review, state="open")
    assert still_open["page"]["matching"] == 22 and card["id"] not in {
        c["id"] for c in still_open["anomalies"]}
    assert still_open["total"] == 23  # the tab counts stay over everything


async def test_a_bad_filter_is_refused_with_words(review: ReviewClient) -> None:
    for query, words in (({"severity": "urgent"}, "unknown severity"),
                         ({"state": "maybe"}, "unknown state"),
                         ({"limit": "0"}, "limit must be between"),
                         ({"offset": "x"}, "offset must be a whole number")):
        response = await review.get("/api/anomalies", params=query)
        assert response.status == 400
        assert words in (await response.json())["error"]


async def test_a_long_history_is_paged_not_cut_at_500(tmp_path: Path) -> None:
    lines = [orjson.dumps({
        "schema_version": 1, "event_id": f"e{i}", "observed_at": "2026-11-23T10:00:00Z",
        "cluster": "prod", "client": {"name": f"web{i}", "namespace": "shop", "kind": "Deployment"},
        "target": {"type": "kubernetes", "name": "api", "namespace": "shop", "port": 8080,
                   "protocol": "TCP"}}) for i in range(620)]
    async with open_demo(tmp_path / "demo") as demo:
        await replay(demo, lines)
        client = await serve(demo.review_app)
        try:
            ids: set[str] = set()
            for offset in range(0, 620, 200):
                page = await listing(client, offset=offset, limit=200)
                assert page["page"]["matching"] == 620
                ids |= {card["id"] for card in page["anomalies"]}
            assert len(ids) == 620
        finally:
            await client.close()


async def replay(demo: Demo, lines: list[bytes]) -> None:
    totals = await demo.replay(lines)
    assert await demo.anomaly_count() == 620, totals
