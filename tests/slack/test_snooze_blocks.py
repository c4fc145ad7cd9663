"""The snooze part of a card: two buttons in their own block while the flow is open, a
"snoozed until" line while it is snoozed, nothing once it is decided."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chatbot.lifecycle import State
from chatbot.slack.blocks import anomaly_message
from chatbot.slack.ids import BlockId, SnoozeId
from tests.slack.test_blocks import card

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def snooze_buttons(message: dict[str, Any]) -> list[str]:
    return [element["action_id"] for block in message["blocks"]
            if block.get("block_id") == BlockId.SNOOZE for element in block["elements"]]


def test_an_open_card_offers_an_hour_and_a_day_with_the_anomaly_id() -> None:
    message = anomaly_message(card())
    assert snooze_buttons(message) == [SnoozeId.HOUR, SnoozeId.DAY]
    [block] = [b for b in message["blocks"] if b.get("block_id") == BlockId.SNOOZE]
    assert {e["value"] for e in block["elements"]} == {"a" * 32}
    assert ":zzz:" not in json.dumps(message["blocks"])
    assert message["blocks"][-1]["block_id"] == BlockId.FOOTER  # the footer stays last


def test_a_snoozed_card_says_by_whom_and_until_when() -> None:
    until = T0 + timedelta(hours=1)
    shown = json.dumps(anomaly_message(card(snoozed_until=until, snoozed_by="U0OWNER"))["blocks"])
    assert ":zzz: Snoozed by <@U0OWNER> until" in shown
    assert f"<!date^{int(until.timestamp())}^" in shown


def test_a_decided_card_has_no_snooze() -> None:
    decided = anomaly_message(card(state=State.BLOCKED, decided_by="U0X", decided_at=T0,
                                   snoozed_until=T0, snoozed_by="U0X"))
    assert snooze_buttons(decided) == [] and ":zzz:" not in json.dumps(decided["blocks"])


def test_the_durations_are_an_hour_and_a_day() -> None:
    assert SnoozeId.HOUR.duration == timedelta(hours=1)
    assert SnoozeId.DAY.duration == timedelta(days=1)
