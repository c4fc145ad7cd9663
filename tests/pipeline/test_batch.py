"""split: each record of a batch becomes either a valid event or a bad record with the reason
its dead-letter header will carry; reason_category turns that reason into a metric label."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chatbot.events.model import KubernetesTarget
from chatbot.pipeline.batch import CATEGORIES, EMPTY_RECORD, reason_category, split
from tests.events.samples import dropped, edited, encoded, kubernetes_event


@dataclass(frozen=True)
class Record:
    value: bytes | None
    offset: int = 0


GOOD = kubernetes_event()

BAD_RECORDS = [
    ("no value", None, EMPTY_RECORD, "empty"),
    ("empty value", b"", EMPTY_RECORD, "empty"),
    ("malformed JSON", b'{"schema_version": 1', "malformed JSON", "malformed_json"),
    ("binary", b"\x00\xff\xfe\x81", "not valid UTF-8", "not_utf8"),
    ("JSON array", b"[]", "must be a JSON object", "not_object"),
    ("version 2", encoded(edited(GOOD, "schema_version", 2)), "schema_version", "schema_version"),
    ("missing field", encoded(dropped(GOOD, "observed_at")), "missing field 'observed_at'",
     "missing_field"),
    ("bad name", encoded(edited(GOOD, "client.name", "Checkout_Svc")), "'client.name'",
     "invalid_value"),
    ("wrong type", encoded(edited(GOOD, "target.name", ["payments"])),
     "'target.name' must be a string", "wrong_type"),
    ("unknown field", encoded(edited(GOOD, "priority", 1)), "unknown field 'priority'",
     "unknown_field"),
    ("oversize", b"{" + b" " * 70_000 + b"}", "byte limit", "oversize"),
]


@pytest.mark.parametrize(("value", "reason", "category"), [case[1:] for case in BAD_RECORDS],
                         ids=[case[0] for case in BAD_RECORDS])
def test_a_bad_record_is_set_aside_with_its_reason(
    value: bytes | None, reason: str, category: str
) -> None:
    record = Record(value)

    events, bad = split([record])

    assert events == []
    assert len(bad) == 1
    assert bad[0][0] is record
    assert reason in bad[0][1]
    assert reason_category(bad[0][1]) == category


def test_good_and_bad_records_are_split_in_order() -> None:
    records = [Record(encoded(kubernetes_event("a")), 0), Record(b"nope", 1),
               Record(encoded(kubernetes_event("b")), 2), Record(None, 3)]

    events, bad = split(records)

    assert [event.event_id for event in events] == ["a", "b"]
    assert [(record.offset, reason.split(":")[0]) for record, reason in bad] == [
        (1, "malformed JSON"), (3, EMPTY_RECORD)]


def test_markup_in_an_http_path_is_valid_input_shown_escaped_later() -> None:
    events, bad = split([Record(encoded(edited(GOOD, "target.http.path", "/<!channel>")))])

    assert bad == []
    assert isinstance(events[0].target, KubernetesTarget)
    assert events[0].target.http is not None
    assert events[0].target.http.path == "/<!channel>"


def test_every_category_is_one_of_a_fixed_few_labels() -> None:
    reasons = ["anything else", "field 'count' must be an integer from 1 to 1000000000",
               "an internet target needs 'target.domain' or 'target.ip'"]

    assert {reason_category(reason) for reason in reasons} <= CATEGORIES
    assert reason_category(reasons[2]) == "missing_field"
