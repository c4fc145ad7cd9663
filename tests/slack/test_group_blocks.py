"""Grouped cards as Slack shows them: one row per flow with its own buttons, block ids unique,
within Slack's limits at the largest group, and "Approve all" only for benign pending flows."""

from __future__ import annotations

import json
from dataclasses import replace

from chatbot.card import Card
from chatbot.card_group import MAX_ROWS, group_card
from chatbot.config.rules import Quorum, Rules
from chatbot.events.model import Severity
from chatbot.lifecycle import State
from chatbot.slack.group_blocks import group_message
from chatbot.slack.ids import APPROVE_ALL_ACTION_ID, ActionId
from testbench.slack.blocks import block_errors
from tests.slack.test_blocks import card

RULES = Rules(default_channel="flow-alerts")


def flows(count: int) -> list[Card]:
    return [replace(card(), anomaly_id=f"{i:08d}" + "a" * 24) for i in range(count)]


def rows_with(message: dict[str, object], action: str) -> list[str]:
    return [element["value"] for block in message["blocks"]  # type: ignore[attr-defined]
            if block["type"] == "actions" for element in block["elements"]
            if element["action_id"] == action]


def test_every_flow_is_a_row_with_its_own_buttons_and_unique_block_ids() -> None:
    cards = flows(3)
    group = group_card(group_id="g" * 32, cluster="prod", namespace="rps", workload="web",
                       cards=cards, rules=RULES)
    message = group_message(group)
    assert rows_with(message, ActionId.APPROVE) == [c.anomaly_id for c in cards]
    assert rows_with(message, APPROVE_ALL_ACTION_ID) == ["g" * 32]
    ids = [block["block_id"] for block in message["blocks"]]
    assert len(ids) == len(set(ids))
    assert "Approve all I may decide (3)" in json.dumps(message["blocks"])


def test_risky_and_quorum_flows_are_never_swept_and_say_why() -> None:
    risky = replace(card(), anomaly_id="r" * 32, severity=Severity.CRITICAL)
    benign = replace(card(), anomaly_id="b" * 32)
    group = group_card(group_id="g" * 32, cluster="prod", namespace="rps", workload="web",
                       cards=[benign, risky], rules=RULES)
    assert [c.anomaly_id for c in group.sweepable] == ["b" * 32]
    shown = json.dumps(group_message(group)["blocks"])
    assert "needs its own decision: severity high or critical" in shown

    quorum = Rules(default_channel="flow-alerts", quorum=(Quorum(namespaces=("rps",),
                                                                 approvals=2),))
    group = group_card(group_id="g" * 32, cluster="prod", namespace="rps", workload="web",
                       cards=[replace(benign, approvals_required=2)], rules=quorum)
    assert group.sweepable == []
    assert rows_with(group_message(group), APPROVE_ALL_ACTION_ID) == []


def test_decided_rows_lose_their_buttons_and_the_largest_group_fits_slack() -> None:
    decided = replace(card(), anomaly_id="d" * 32, state=State.APPLIED, decided_by="U0OWNER")
    cards = [*flows(MAX_ROWS - 1), decided]
    group = group_card(group_id="g" * 32, cluster="prod", namespace="rps", workload="web",
                       cards=cards, rules=RULES)
    message = group_message(group)
    assert "d" * 32 not in rows_with(message, ActionId.APPROVE)
    assert len(rows_with(message, ActionId.APPROVE)) == MAX_ROWS - 1
    assert len(message["blocks"]) <= 50
    assert block_errors(message["blocks"]) == []


def test_a_row_covered_elsewhere_says_so_and_has_no_buttons() -> None:
    pending, covered = flows(2)
    covered = replace(covered, state=State.COVERED, covered_by="rps/web-by-hand",
                      decided_by="U0BLOCKER")  # an earlier block's name is not "by" here
    group = group_card(group_id="g" * 32, cluster="prod", namespace="rps", workload="web",
                       cards=[pending, covered], rules=RULES)
    message = group_message(group)
    assert rows_with(message, ActionId.APPROVE) == [pending.anomaly_id]
    assert [c.anomaly_id for c in group.sweepable] == [pending.anomaly_id]
    shown = json.dumps(message["blocks"])
    assert "covered elsewhere" in shown and "<@U0BLOCKER>" not in shown
    assert "Now covered by ClientIntents `rps/web-by-hand`; no decision needed" in shown
    assert "1 pending" in shown and block_errors(message["blocks"]) == []
