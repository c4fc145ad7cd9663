"""Anomaly cards as Slack shows them: escaped, within limits, buttons only while open."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chatbot.card import Card
from chatbot.events.model import (
    HttpCall,
    InternetTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Workload,
)
from chatbot.lifecycle import State
from chatbot.slack.blocks import anomaly_message
from chatbot.slack.ids import ActionId, BlockId
from chatbot.slack.mrkdwn import Mrkdwn, fit

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def card(**changes: Any) -> Card:
    base = Card(
        anomaly_id="a" * 32, cluster="prod-eu",
        client=Workload(name="web", namespace="rps", kind="Deployment"),
        target=KubernetesTarget(name="game-api", namespace="rps", kind="Deployment", port=8080,
                                protocol="TCP", http=HttpCall(path="/api/play", method="POST")),
        reason=Reason.NO_INTENT, severity=Severity.MEDIUM, state=State.PENDING, version=1,
        event_count=3, first_seen=T0, last_seen=T0)
    return replace(base, **changes)


def texts(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"]) + str(message["text"])


def action_ids(message: dict[str, Any]) -> list[str]:
    """The decision buttons (the snooze buttons sit in a block of their own)."""
    return [element["action_id"] for block in message["blocks"] if block["type"] == "actions"
            and block.get("block_id") != BlockId.SNOOZE for element in block["elements"]]


def test_a_pending_card_offers_approve_block_escalate_for_its_anomaly() -> None:
    message = anomaly_message(card())
    assert action_ids(message) == [ActionId.APPROVE, ActionId.BLOCK, ActionId.ESCALATE]
    values = {element["value"] for block in message["blocks"] if block["type"] == "actions"
              for element in block["elements"]}
    assert values == {"a" * 32}
    shown = texts(message)
    assert "POST /api/play" in shown and "8080/TCP" in shown and "prod-eu" in shown
    assert "kubernetes" in shown and "game-api" in shown  # the ClientIntents preview


def test_a_path_that_slack_would_read_as_a_mention_is_shown_literally() -> None:
    hostile = KubernetesTarget(name="api", namespace="rps", kind=None, port=80, protocol="TCP",
                               http=HttpCall(path="/<!channel>/<@U024BE7LH>&x", method="GET"))
    shown = texts(anomaly_message(card(target=hostile)))
    assert "<!channel>" not in shown and "<@U024BE7LH>" not in shown
    assert "&lt;!channel&gt;" in shown and "&lt;@U024BE7LH&gt;" in shown and "&amp;x" in shown


def test_decided_cards_lose_their_decision_buttons_and_say_who_decided() -> None:
    approved = card(state=State.APPLIED, decided_by="U0APPROVER", decided_at=T0,
                    applied_object="ClientIntents rps/web")
    message = anomaly_message(approved)
    assert action_ids(message) == [ActionId.REVOKE]  # what was applied can be taken back
    assert "<@U0APPROVER>" in texts(message) and "ClientIntents rps/web" in texts(message)
    blocked = anomaly_message(card(state=State.BLOCKED, decided_by="U0X", decided_at=T0,
                                   retried_after_block_at=T0))
    assert action_ids(blocked) == [] and "Retried after block" in texts(blocked)


def test_a_failed_write_is_visible_with_its_reason() -> None:
    failed = card(state=State.APPLY_FAILED, decided_by="U0X", decided_at=T0, apply_attempts=2,
                  apply_error="clientintents is forbidden")
    assert "failed (attempt 2)" in texts(anomaly_message(failed))


def test_huge_values_are_truncated_to_block_kit_limits() -> None:
    path = "/" + "x<" * 600
    big = card(target=KubernetesTarget(name="a" * 253, namespace="rps", kind=None, port=1,
                                       protocol="TCP", http=HttpCall(path=path, method="GET")),
               client=Workload(name="b" * 253, namespace="n" * 63, kind="Deployment"))
    message = anomaly_message(big)
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert all(len(field["text"]) <= 2000 for field in block.get("fields", []))
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    assert len(message["blocks"]) <= 50


def test_truncation_never_splits_an_escaped_character() -> None:
    assert fit(Mrkdwn("ab&lt;cd"), 5) == "ab…"
    assert fit(Mrkdwn("abcdef"), 10) == "abcdef"


def test_internet_targets_show_domain_and_port() -> None:
    target = InternetTarget(domain="api.stripe.com", ip=None, port=443, protocol="TCP")
    shown = texts(anomaly_message(card(target=target)))
    assert "api.stripe.com" in shown and "443/TCP" in shown


def test_an_escalated_card_offers_approve_and_block_only() -> None:
    escalated = card(state=State.ESCALATED, escalated_at=T0, escalated_by="U0X",
                     escalation_trigger="click")
    message = anomaly_message(escalated)
    assert action_ids(message) == [ActionId.APPROVE, ActionId.BLOCK]
    assert "escalated by <@U0X>" in texts(message)  # the service's own mention, live


def test_a_card_handed_to_the_war_room_says_so_and_offers_nothing() -> None:
    escalated = card(state=State.ESCALATED, escalated_at=T0, escalated_by="U0X")
    message = anomaly_message(escalated, war_room_decides=True)
    assert action_ids(message) == []
    assert "war-room approvers decide this flow now" in texts(message)
    # Only an escalated card is handed over; an open one keeps its buttons.
    assert action_ids(anomaly_message(card(), war_room_decides=True)) == [
        ActionId.APPROVE, ActionId.BLOCK, ActionId.ESCALATE]


def test_truncation_never_splits_a_token_or_leaves_a_code_span_open() -> None:
    assert fit(Mrkdwn("seen <!date^1795420800^{time}|x> ok"), 12) == "seen …"
    assert fit(Mrkdwn("path `abcdefgh`"), 10) == "path …"
    assert fit(Mrkdwn("by <@U0APPROVER>"), 9) == "by …"


def test_a_card_covered_elsewhere_offers_nothing_and_names_the_intents() -> None:
    covered = card(state=State.COVERED, covered_by="rps/web-by-hand", decided_at=T0)
    message = anomaly_message(covered)
    assert [block for block in message["blocks"] if block["type"] == "actions"] == []
    shown = texts(message)
    assert "Now covered by ClientIntents `rps/web-by-hand`; no decision needed" in shown
    assert "What Approve opens" not in shown and "ClientIntents change for" not in shown
    assert "(covered)" in message["text"] and "\\u00b7 covered" in shown  # the footer
    # An escalated flow covered meanwhile keeps its escalation line; no war-room hand-off.
    escalated = card(state=State.COVERED, covered_by="rps/web", escalated_at=T0,
                     escalated_by="U0X")
    shown = texts(anomaly_message(escalated, war_room_decides=True))
    assert "escalated by <@U0X>" in shown and "war-room approvers decide" not in shown
    assert "Now covered by ClientIntents `rps/web`" in shown
