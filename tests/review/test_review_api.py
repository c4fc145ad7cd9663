"""Stories of the review page's HTTP surface, over the demo with the samples replayed: it lists
the anomalies, decides through the same code as Slack, and refuses anything cross-site."""

from __future__ import annotations

import json
from typing import Any

import yaml

from chatbot.coverage_resolver import CoverageResolver
from chatbot.demo import DEMO_USER, SECOND_USER, Demo
from chatbot.intents.coverage import CoverageIndex
from chatbot.intents.directory_index import DirectoryIndex
from chatbot.intents.provenance import grant_key
from chatbot.review import make_review_app
from chatbot.review.guard import CSRF_HEADER
from chatbot.store.audit import entries
from tests.review.conftest import ReviewClient, csrf_token, serve

View = dict[str, Any]


async def listing(client: ReviewClient) -> View:
    response = await client.get("/api/anomalies")
    assert response.status == 200
    body: View = await response.json()
    return body


def find(body: View, title: str, http: str | None = None) -> View:
    cards: list[View] = body["anomalies"]
    for card in cards:
        if card["title"] == title and (http is None or ["HTTP", http] in card["facts"]):
            return card
    raise AssertionError(f"no card {title} {http or ''}")


async def test_the_page_lists_every_sample_anomaly_as_a_pending_card(
        review: ReviewClient) -> None:
    body = await listing(review)

    assert body["total"] == len(body["anomalies"]) == 23
    assert body["counts"] == {"pending": 23}
    assert [a["action"] for a in body["actions"]] == ["approve", "block", "escalate", "revoke"]
    worrying = find(body, "matchmaker → telemetry.mmkr-update.xyz")
    assert worrying["severity"] == "high" and worrying["count"] > 1
    assert body["anomalies"][0]["severity"] == "critical"
    mention = find(body, "web → rps/game-api", "GET /api/v1/players/<!channel>/profile")
    assert "/api/v1/players/<!channel>/profile" in mention["intent_yaml"]


async def test_the_page_carries_its_token_and_a_strict_content_policy(
        review: ReviewClient) -> None:
    response = await review.get("/")

    assert response.status == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert len(await csrf_token(review)) >= 32
    assert (await review.get("/static/review.js")).status == 200
    assert (await review.get("/static/..%2Fapp.py")).status == 404


async def test_approve_writes_the_workload_yaml_with_the_approved_target(
        demo: Demo, review: ReviewClient) -> None:
    card = find(await listing(review), "web → rps/game-api", "GET /api/v1/games")

    response = await review.post(f"/api/anomalies/{card['id']}/approve",
                                 headers={CSRF_HEADER: await csrf_token(review)})
    assert response.status == 200, await response.text()
    assert (await response.json())["anomaly"]["state"] == "approved"
    assert await demo.applier.apply_due() == 1

    written = demo.intents_dir / "web.rps.yaml"
    document = yaml.safe_load(written.read_text())
    assert document["spec"]["workload"] == {"name": "web", "kind": "Deployment"}
    assert document["spec"]["targets"] == [
        {"service": {"name": "game-api", "http": [{"path": "/api/v1/games", "methods": ["GET"]}]}}]
    shown = find(await listing(review), "web → rps/game-api", "GET /api/v1/games")
    assert shown["state"] == "applied" and shown["decided_by"] == DEMO_USER
    assert shown["intents_file"] == {"name": "web.rps.yaml", "text": written.read_text()}
    audit = (await (await review.get("/api/audit")).json())["entries"]
    assert {(e["actor"], e["action"], e["result"]) for e in audit if e["anomaly_id"] == card["id"]
            } >= {(DEMO_USER, "approve", "ok"), ("system", "apply", "applied")}


async def test_a_second_click_on_a_decided_card_decides_nothing(review: ReviewClient) -> None:
    card = find(await listing(review), "stats → api.segment.io")
    headers = {CSRF_HEADER: await csrf_token(review)}

    assert (await review.post(f"/api/anomalies/{card['id']}/block", headers=headers)).status == 200
    again = await review.post(f"/api/anomalies/{card['id']}/approve", headers=headers)

    assert again.status == 409
    assert (await again.json())["verdict"] == "stale"
    assert find(await listing(review), "stats → api.segment.io")["state"] == "blocked"


async def test_a_post_without_the_csrf_token_is_refused_and_decides_nothing(
        demo: Demo, review: ReviewClient) -> None:
    card = find(await listing(review), "stats → pci-payments/card-vault")

    for headers in ({}, {CSRF_HEADER: "guessed"}):
        response = await review.post(f"/api/anomalies/{card['id']}/approve", headers=headers)
        assert response.status == 403
    assert find(await listing(review), "stats → pci-payments/card-vault")["state"] == "pending"
    async with demo.sessions() as session:
        assert all(e.actor == "system" for e in await entries(session, anomaly_id=card["id"]))


async def test_a_cross_origin_post_is_refused_even_with_the_token(review: ReviewClient) -> None:
    card = find(await listing(review), "stats → pci-payments/card-vault")
    token = await csrf_token(review)
    url = f"/api/anomalies/{card['id']}/block"

    for foreign in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": f"http://localhost:{review.port}"}):
        response = await review.post(url, headers={CSRF_HEADER: token, **foreign})
        assert response.status == 403, foreign
    assert find(await listing(review), "stats → pci-payments/card-vault")["state"] == "pending"
    same_origin = {"Origin": f"http://127.0.0.1:{review.port}", "Sec-Fetch-Site": "same-origin"}
    response = await review.post(url, headers={CSRF_HEADER: token, **same_origin})
    assert response.status == 200
    assert find(await listing(review), "stats → pci-payments/card-vault")["state"] == "blocked"


async def test_a_foreign_host_header_is_refused_against_dns_rebinding(
        review: ReviewClient) -> None:
    token = await csrf_token(review)
    card = find(await listing(review), "matchmaker → 185.220.101.34")

    for host in ("evil.example", f"evil.example:{review.port}", "127.0.0.1:1", "127.0.0.1"):
        assert (await review.get("/", headers={"Host": host})).status == 421, host
        assert (await review.get("/api/anomalies", headers={"Host": host})).status == 421
        response = await review.post(f"/api/anomalies/{card['id']}/escalate",
                                     headers={"Host": host, CSRF_HEADER: token})
        assert response.status == 421
    assert (await review.get("/", headers={"Host": f"localhost:{review.port}"})).status == 200


async def test_a_read_only_page_shows_the_cards_but_refuses_every_decision(demo: Demo) -> None:
    client = await serve(make_review_app(sessions=demo.sessions, decider=demo.decider,
                                         intents_dir=demo.intents_dir, user_id=DEMO_USER,
                                         read_only=True))
    try:
        body = await listing(client)
        card = body["anomalies"][0]
        response = await client.post(f"/api/anomalies/{card['id']}/approve",
                                     headers={CSRF_HEADER: await csrf_token(client)})
        assert response.status == 403
        assert body["actions"] == [] and body["read_only"] is True
        assert (await listing(client))["counts"] == {"pending": 23}
    finally:
        await client.close()


async def test_someone_who_is_not_an_approver_is_refused_and_audited(demo: Demo) -> None:
    client = await serve(make_review_app(sessions=demo.sessions, decider=demo.decider,
                                         intents_dir=demo.intents_dir, user_id="U0STRANGER",
                                         read_only=False))
    try:
        card = (await listing(client))["anomalies"][0]
        response = await client.post(f"/api/anomalies/{card['id']}/approve",
                                     headers={CSRF_HEADER: await csrf_token(client)})
        assert response.status == 403
        assert (await response.json())["verdict"] == "refused"
        async with demo.sessions() as session:
            refused = [e for e in await entries(session, anomaly_id=card["id"])
                       if e.result == "refused"]
        assert [(e.actor, e.action) for e in refused] == [("U0STRANGER", "approve")]
    finally:
        await client.close()


async def test_unknown_anomalies_and_actions_are_not_found(review: ReviewClient) -> None:
    headers = {CSRF_HEADER: await csrf_token(review)}
    card = (await listing(review))["anomalies"][0]

    assert (await review.post("/api/anomalies/feedface/approve", headers=headers)).status == 404
    assert (await review.post(f"/api/anomalies/{card['id']}/delete", headers=headers)
            ).status == 404


async def test_payment_data_needs_a_justification_and_two_approvers_on_the_page(
        demo: Demo, review: ReviewClient) -> None:
    card = find(await listing(review), "stats → pci-payments/card-vault")
    assert card["risk"]["justification"] and "payment card data" in card["risk"]["reasons"]
    assert card["approvals_required"] == 2
    [approve] = [a for a in card["actions"] if a["action"] == "approve"]
    assert approve["justification"] and approve["confirm"]["title"] == "Approve a risky flow?"
    url = f"/api/anomalies/{card['id']}/approve"
    headers = {CSRF_HEADER: await csrf_token(review)}

    for form in ({}, {"justification": "  "}):
        refused = await review.post(url, headers=headers, json=form)
        assert refused.status == 422
        assert "Write why" in (await refused.json())["errors"]["justification"]
    first = await review.post(url, headers=headers, json={"justification": "PAY-12 fraud check"})
    assert first.status == 200 and "1 of 2" in (await first.json())["message"]
    shown = find(await listing(review), "stats → pci-payments/card-vault")
    assert shown["state"] == "pending" and shown["approvals"] == [DEMO_USER]

    second = await review.post(url, headers=headers,
                               json={"as": SECOND_USER, "justification": "agreed, PAY-12"})
    assert second.status == 200
    assert await demo.applier.apply_due() == 1
    document = yaml.safe_load((demo.intents_dir / "stats.rps.yaml").read_text())
    grant = json.loads(document["metadata"]["annotations"][grant_key(card["id"])])
    assert grant["votes"] == [DEMO_USER, SECOND_USER] and grant["by"] == SECOND_USER
    assert grant["why"] == f"{DEMO_USER}: PAY-12 fraud check | {SECOND_USER}: agreed, PAY-12"
    audit = (await (await review.get("/api/audit")).json())["entries"]
    assert {e["detail"].get("justification") for e in audit if e["anomaly_id"] == card["id"]
            and e["action"] == "approve"} == {"PAY-12 fraud check", "agreed, PAY-12"}


async def test_the_page_decides_only_as_the_people_it_offers(review: ReviewClient) -> None:
    card = find(await listing(review), "stats → api.segment.io")
    response = await review.post(f"/api/anomalies/{card['id']}/block",
                                 headers={CSRF_HEADER: await csrf_token(review)},
                                 json={"as": "U0SOMEONEELSE"})
    assert response.status == 403
    assert find(await listing(review), "stats → api.segment.io")["state"] == "pending"


async def test_revoke_on_the_page_takes_the_target_out_of_the_yaml(
        demo: Demo, review: ReviewClient) -> None:
    headers = {CSRF_HEADER: await csrf_token(review)}
    games = find(await listing(review), "web → rps/game-api", "GET /api/v1/games")
    moves = find(await listing(review), "web → rps/game-api", "POST /api/v1/moves")
    for card in (games, moves):
        assert (await review.post(f"/api/anomalies/{card['id']}/approve",
                                  headers=headers)).status == 200
    assert await demo.applier.apply_due() == 2
    applied = find(await listing(review), "web → rps/game-api", "GET /api/v1/games")
    assert [a["action"] for a in applied["actions"]] == ["revoke"]

    response = await review.post(f"/api/anomalies/{games['id']}/revoke", headers=headers)
    assert response.status == 200 and (await response.json())["anomaly"]["state"] == "revoking"
    assert await demo.applier.apply_due() == 1

    document = yaml.safe_load((demo.intents_dir / "web.rps.yaml").read_text())
    assert document["spec"]["targets"] == [{"service": {"name": "game-api", "http": [
        {"path": "/api/v1/moves", "methods": ["POST"]}]}}]
    revoked = find(await listing(review), "web → rps/game-api", "GET /api/v1/games")
    assert revoked["state"] == "revoked" and revoked["revoked_by"] == DEMO_USER
    assert "removed what this approval added" in revoked["revoke_result"]
    assert revoked["actions"] == []


async def test_a_file_someone_adds_to_the_intents_directory_resolves_what_it_covers(
        demo: Demo, review: ReviewClient) -> None:
    # A GitOps change merged by hand: web may GET /api/v1/games, nothing else.
    demo.intents_dir.mkdir(parents=True, exist_ok=True)  # the sink makes it on its first write
    (demo.intents_dir / "web-by-hand.yaml").write_text(yaml.safe_dump({
        "apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
        "metadata": {"name": "web-gitops", "namespace": "rps"},
        "spec": {"workload": {"name": "web", "kind": "Deployment"},
                 "targets": [{"service": {"name": "game-api", "http": [
                     {"path": "/api/v1/games", "methods": ["GET"]}]}}]}}))
    index = CoverageIndex()
    resolver = CoverageResolver(sessions=demo.sessions, index=index, clock=demo.clock)
    await DirectoryIndex(demo.intents_dir, index=index, on_change=resolver.changed).refresh()
    games = find(await listing(review), "web → rps/game-api", "GET /api/v1/games")
    assert await resolver.resolve() == [games["id"]]

    body = await listing(review)
    covered = find(body, "web → rps/game-api", "GET /api/v1/games")
    assert covered["state"] == "covered" and covered["covered_by"] == "rps/web-gitops"
    assert covered["open"] is False and covered["actions"] == []
    assert find(body, "web → rps/game-api", "POST /api/v1/games")["state"] == "pending"
    assert body["counts"] == {"pending": 22, "covered": 1}
    opened = await (await review.get("/api/anomalies?state=open")).json()
    assert games["id"] not in {card["id"] for card in opened["anomalies"]}
    only = await (await review.get("/api/anomalies?state=covered")).json()
    assert [card["id"] for card in only["anomalies"]] == [games["id"]]
    audit = await (await review.get("/api/audit")).json()
    [entry] = [e for e in audit["entries"] if e["action"] == "covered"]
    assert entry["actor"] == "system" and entry["detail"]["intents"] == "rps/web-gitops"
    assert entry["flow"] == "web → rps/game-api GET /api/v1/games"
