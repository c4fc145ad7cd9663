"""The fast decoder is parse_event, faster: over every case of the parser's own tests and a
seeded corpus of mutants, both give the same verdict, the same event (labels included) and
the same dead-letter reason and category — with cold caches and with warm ones."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from chatbot.errors import BadEvent
from chatbot.events import names
from chatbot.events.decoder import EventDecoder, rfc3339_layout
from chatbot.events.model import FlowEvent
from chatbot.events.parse import parse_event
from tests.events.mutants import _TIMES, mutants, valid_documents
from tests.events.test_parse import BAD_DOCUMENTS, RAW_CASES

Outcome = tuple[object, ...]
MUTANTS = 30_000


def outcome(parse: object, raw: bytes) -> Outcome:
    assert callable(parse)
    try:
        event: FlowEvent = parse(raw)
    except BadEvent as bad:
        return ("bad", bad.reason, bad.category)
    return ("ok", event, event.client.labels)


def parser_cases() -> list[bytes]:
    cases = [orjson.dumps(doc) for doc in valid_documents()]
    cases += [orjson.dumps(doc) for _, doc, _ in BAD_DOCUMENTS]
    cases += [raw for raw, _ in RAW_CASES]
    return cases


@pytest.mark.parametrize("warm", [False, True], ids=["cold caches", "warm caches"])
def test_every_parser_case_gets_the_reference_verdict(warm: bool) -> None:
    shared = EventDecoder()
    for raw in parser_cases():
        decoder = shared if warm else EventDecoder()
        expected = outcome(parse_event, raw)
        assert outcome(decoder, raw) == expected, raw
        assert outcome(decoder, raw) == expected, raw  # again, from the caches


def test_a_fuzzed_corpus_gets_the_reference_verdict_every_time() -> None:
    decoder = EventDecoder()
    valid = 0
    for raw in mutants(MUTANTS, seed=19):
        expected = outcome(parse_event, raw)
        assert outcome(decoder, raw) == expected, raw
        valid += expected[0] == "ok"
    assert MUTANTS * 0.05 < valid < MUTANTS * 0.9  # the corpus probes both sides


def test_a_small_memory_that_starts_over_changes_no_verdict() -> None:
    decoder = EventDecoder(remember=3)
    for raw in mutants(3000, seed=5):
        assert outcome(decoder, raw) == outcome(parse_event, raw), raw


@pytest.mark.parametrize("text", _TIMES)
def test_the_timestamp_layout_check_is_the_rfc_3339_expression(text: str) -> None:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return
    assert rfc3339_layout(text) == (names.TIMESTAMP.fullmatch(text) is not None)


def test_bad_utf_8_inside_a_sub_document_is_a_bad_event_not_a_crash() -> None:
    raw = orjson.dumps(valid_documents()[0]).replace(b'"checkout"', b'"\xc3\x28"', 1)

    with pytest.raises(BadEvent) as raised:
        EventDecoder()(raw)

    assert raised.value.reason == "event is not valid UTF-8"
