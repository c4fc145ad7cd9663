"""split: each record of a batch becomes either a valid event or a bad record with the reason
its dead-letter header will carry and the fixed category its metric label will — the same
with the reference parser and with the consumer's fast decoder."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chatbot.events.decoder import EventDecoder
from chatbot.events.model import KubernetesTarget
from chatbot.events.parse import parse_event
from chatbot.pipeline.batch import CATEGORIES, EMPTY_RECORD, Decode, split
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


DECODERS = pytest.mark.parametrize("decode", [parse_event, EventDecoder()],
                                   ids=["parse_event", "fast decoder"])


@DECODERS
@pytest.mark.parametrize(("value", "reason", "category"), [case[1:] for case in BAD_RECORDS],
                         ids=[case[0] for case in BAD_RECORDS])
def test_a_bad_record_is_set_aside_with_its_reason_and_category(
    decode: Decode, value: bytes | None, reason: str, category: str
) -> None:
    record = Record(value)

    events, bad = split([record], decode=decode)

    assert events == []
    assert len(bad) == 1
    assert bad[0][0] is record
    assert reason in bad[0][1].reason
    assert bad[0][1].category == category
    assert category in CATEGORIES


@DECODERS
def test_good_and_bad_records_are_split_in_order(decode: Decode) -> None:
    records = [Record(encoded(kubernetes_event("a")), 0), Record(b"nope", 1),
               Record(encoded(kubernetes_event("b")), 2), Record(None, 3)]

    events, bad = split(records, decode=decode)

    assert [(record.offset, event.event_id) for record, event in events] == [(0, "a"), (2, "b")]
    assert [(record.offset, error.reason.split(":")[0]) for record, error in bad] == [
        (1, "malformed JSON"), (3, EMPTY_RECORD)]


def test_markup_in_an_http_path_is_valid_input_shown_escaped_later() -> None:
    events, bad = split([Record(encoded(edited(GOOD, "target.http.path", "/<!channel>")))])

    assert bad == []
    target = events[0][1].target
    assert isinstance(target, KubernetesTarget)
    assert target.http is not None
    assert target.http.path == "/<!channel>"


def test_the_category_does_not_follow_the_wording_of_the_reason() -> None:
    """An internet target without an address is a missing field, though its reason reads
    like an invalid value; a count given as text is an invalid value."""
    no_address = edited(edited(GOOD, "target", {"type": "internet", "port": 443}), "event_id", "x")

    _, bad = split([Record(encoded(no_address)), Record(encoded(edited(GOOD, "count", "3")))])

    assert [error.category for _, error in bad] == ["missing_field", "invalid_value"]
