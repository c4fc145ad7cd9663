"""The trust parts of a Slack card, pure: a risky Approve asks first, the card says what the
grant opens for the configured output, the client's context, and who said why or revoked."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chatbot.card import Card, Justification, Related
from chatbot.config.risk import Enforcement
from chatbot.events.model import (
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    Workload,
)
from chatbot.lifecycle import Action, State
from chatbot.risk import Risk
from chatbot.slack.blocks import anomaly_message
from chatbot.slack.ids import ActionId, BlockId, ViewId
from chatbot.slack.modals import justification_modal

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
GAMES = KubernetesTarget(name="game-api", namespace="rps", kind="Service", port=8080,
                         protocol="TCP", http=HttpCall("/api/v1/games", "GET"))
RISKY = Risk(("severity high or critical", "a raw IP address"), justification=True)


def card(**changes: Any) -> Card:
    base = Card(anomaly_id="b" * 32, cluster="prod-eu",
                client=Workload(name="web", namespace="rps", kind="Deployment",
                                labels={"app.kubernetes.io/name": "web", "team": "games"}),
                target=GAMES, reason=Reason.NO_INTENT, severity=Severity.LOW,
                state=State.PENDING, version=1, event_count=1, first_seen=T0, last_seen=T0)
    return replace(base, **changes)


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {element["action_id"]: element for block in message["blocks"]
            if block["type"] == "actions" for element in block["elements"]}


def section(message: dict[str, Any], block_id: str) -> str:
    [block] = [b for b in message["blocks"] if b.get("block_id") == block_id]
    return str(block["text"]["text"])


def test_a_benign_flow_approves_and_blocks_in_one_click() -> None:
    shown = buttons(anomaly_message(card()))
    assert "confirm" not in shown[ActionId.APPROVE] and "confirm" not in shown[ActionId.BLOCK]


def test_a_risky_approve_carries_a_confirm_that_says_why_and_what_opens() -> None:
    shown = buttons(anomaly_message(card(risk=RISKY, severity=Severity.CRITICAL)))
    confirm = shown[ActionId.APPROVE]["confirm"]
    assert confirm["title"]["text"] == "Approve a risky flow?"
    assert "severity high or critical; a raw IP address" in confirm["text"]["text"]
    assert "every port of Service rps/game-api" in confirm["text"]["text"]
    assert "Next you write why." in confirm["text"]["text"]
    assert confirm["confirm"]["text"] == "Continue"
    assert len(confirm["text"]["text"]) <= 300
    assert "confirm" not in shown[ActionId.BLOCK]  # blocking writes nothing


def test_a_confirm_never_carries_event_text_as_markup() -> None:
    hostile = replace(GAMES, http=HttpCall("/<!channel>/" + "x" * 400, "GET"))
    confirm = buttons(anomaly_message(card(risk=Risk(("odd",)), target=hostile)))[
        ActionId.APPROVE]["confirm"]
    assert "<!channel>" not in confirm["text"]["text"]
    assert len(confirm["text"]["text"]) <= 300


def test_an_applied_card_offers_revoke_with_a_confirm() -> None:
    applied = card(state=State.APPLIED, decided_by="U0ALICE", decided_at=T0,
                   applied_object="ClientIntents rps/web")
    shown = buttons(anomaly_message(applied))
    assert list(shown) == [ActionId.REVOKE]
    assert shown[ActionId.REVOKE]["confirm"]["title"]["text"] == "Revoke this access?"
    assert shown[ActionId.REVOKE]["style"] == "danger"


@pytest.mark.parametrize(("target", "enforcement", "says"), [
    (GAMES, Enforcement(), ["every port of Service rps/game-api",
                            "GET /api/v1/games is written but not enforced"]),
    (GAMES, Enforcement(mesh="istio"), ["Istio enforces the HTTP rule"]),
    (KafkaTarget(name="kafka", namespace="kafka", topic="orders", operation="produce"),
     Enforcement(), ["every topic and operation", "Kafka integration, which is not configured"]),
    (KafkaTarget(name="kafka", namespace="kafka", topic="orders", operation="produce"),
     Enforcement(kafka=True), ["limits it to topic orders (produce)"]),
    (InternetTarget(domain="api.segment.io", ip=None, port=443, protocol="TCP"),
     Enforcement(), ["written but not enforced: without Otterize's egress support"]),
    (InternetTarget(domain="api.segment.io", ip=None, port=443, protocol="TCP"),
     Enforcement(egress=True), ["reach api.segment.io on port 443"]),
    (GAMES, Enforcement(format="networkpolicy"),
     ["port 8080/TCP only", "HTTP GET /api/v1/games is not enforced", "deny-by-default"]),
])
def test_the_card_says_what_approve_opens_for_each_output_kind(
        target: Target, enforcement: Enforcement, says: list[str]) -> None:
    grant = section(anomaly_message(card(target=target, enforcement=enforcement)),
                    BlockId.GRANT)
    assert grant.startswith("*What Approve opens*")
    for words in says:
        assert words in grant


def test_the_risk_line_names_the_rules_and_what_approve_needs() -> None:
    grant = section(anomaly_message(card(risk=RISKY, approvals_required=2)), BlockId.GRANT)
    assert ":warning: *Risky*: severity high or critical; a raw IP address" in grant
    assert "Approve needs a justification and 2 distinct approvers" in grant


def test_the_context_shows_the_account_labels_and_the_clients_other_open_anomalies() -> None:
    related = tuple(Related(f"{i:032x}", f"kafka/broker topic t{i} (delete)", "high",
                            "pending") for i in range(7))
    client = Workload(name="web", namespace="rps", kind="Deployment", service_account="web-sa",
                      labels={"app.kubernetes.io/name": "web", "team": "games"})
    context = section(anomaly_message(card(client=client, related=related,
                                           current_targets=("service game-api",))),
                      BlockId.CONTEXT)
    assert "*ServiceAccount* `web-sa`" in context
    assert "`app.kubernetes.io/name=web`" in context and "`team=games`" in context
    assert "*Also open for `web`* (7)" in context and "… and 2 more" in context
    assert "*Its intents now*" in context and "service game-api" in context


def test_justifications_and_a_revoke_are_on_the_card() -> None:
    why = (Justification("U0ALICE", "approve", "INC-7 <!here>"),
           Justification("cli:bob", "revoke", "break glass"))
    revoked = anomaly_message(card(state=State.REVOKED, decided_by="U0ALICE", decided_at=T0,
                                   revoked_by="cli:bob", revoked_at=T0, justifications=why,
                                   revoke_result="removed what this approval added"))
    outcome = section(revoked, BlockId.OUTCOME)
    assert "*Approved* by <@U0ALICE>" in outcome and "*Revoked* by `cli:bob`" in outcome
    assert "*Why* (approve, <@U0ALICE>): INC-7 &lt;!here&gt;" in outcome
    assert "removed what this approval added" in outcome
    assert "asks for a new decision" in outcome
    assert buttons(revoked) == {}
    assert "What the approval opens" in section(revoked, BlockId.GRANT)


def test_the_justification_modal_carries_the_anomaly_and_a_bounded_field() -> None:
    modal = justification_modal(card(risk=RISKY), Action.APPROVE, channel_id="C0FLOWS")
    assert modal["type"] == "modal" and modal["callback_id"] == ViewId.JUSTIFY
    assert json.loads(modal["private_metadata"]) == {
        "anomaly_id": "b" * 32, "action": "approve", "channel": "C0FLOWS"}
    [field] = [b for b in modal["blocks"] if b["type"] == "input"]
    assert field["block_id"] == BlockId.JUSTIFICATION
    assert field["element"]["max_length"] == 1000 and field["element"]["multiline"]
    assert modal["submit"]["text"] == "Approve" and len(modal["title"]["text"]) <= 24
