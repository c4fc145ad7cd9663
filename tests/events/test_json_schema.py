"""The published JSON Schema (chatbot/schema/flow-anomaly-v1.json) is derived from the wire
Structs the fast decoder checks with, and says yes or no exactly where the parser does —
over the parser's cases and a fuzzed corpus — except for the few rules JSON Schema cannot
state, each listed here with the reason."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema
import orjson
import pytest

from chatbot.errors import BadEvent
from chatbot.events import names
from chatbot.events.parse import parse_event
from chatbot.events.schema import render
from tests.events.mutants import mutants, valid_documents
from tests.events.test_parse import BAD_DOCUMENTS

PUBLISHED = resources.files("chatbot").joinpath("schema/flow-anomaly-v1.json")


def ecma_pattern(validator: Any, pattern: str, instance: object, _schema: object
                 ) -> Iterator[jsonschema.ValidationError]:
    """JSON Schema patterns are ECMA-262, where ``$`` is the end of the input; Python's
    ``$`` also matches before a final newline. Every pattern here is ``^…$``."""
    assert pattern.startswith("^") and pattern.endswith("$")
    if isinstance(instance, str) and re.fullmatch(pattern[1:-1], instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(PUBLISHED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    ecma = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                        {"pattern": ecma_pattern})
    return ecma(schema)


def test_the_published_file_is_the_derived_schema() -> None:
    assert PUBLISHED.read_text() == render(), (
        "regenerate: python -m chatbot.events.schema > chatbot/schema/flow-anomaly-v1.json")


def beyond_json_schema(doc: object, reason: str) -> bool:
    """The parser's rules JSON Schema cannot state: a size in bytes, a real calendar date
    (no 30 February), a real IP address (the schema has its characters only)."""
    if "byte limit" in reason:
        return True
    assert isinstance(doc, dict)
    at, target = doc.get("observed_at"), doc.get("target")
    if "'observed_at'" in reason and isinstance(at, str) and names.TIMESTAMP.fullmatch(at):
        return True
    ip = target.get("ip") if isinstance(target, dict) else None
    return "'target.ip'" in reason and isinstance(ip, str) and bool(names.IP_TEXT.fullmatch(ip))


def verdicts(validator: Any, raw: bytes) -> tuple[object, bool, str | None] | None:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # not a JSON document: nothing for a schema to say
    try:
        parse_event(raw)
    except BadEvent as bad:
        reason: str | None = bad.reason
    else:
        reason = None
    return doc, validator.is_valid(doc), reason


def corpus() -> list[bytes]:
    cases = [orjson.dumps(doc) for doc in valid_documents()]
    cases += [orjson.dumps(doc) for _, doc, _ in BAD_DOCUMENTS]
    return cases + list(mutants(5_000, seed=23))


def test_the_schema_and_the_parser_agree_on_every_case(validator: Any) -> None:
    disagreements = []
    beyond = 0
    for raw in corpus():
        seen = verdicts(validator, raw)
        if seen is None:
            continue
        doc, schema_valid, reason = seen
        if schema_valid == (reason is None):
            continue
        if schema_valid and reason is not None and beyond_json_schema(doc, reason):
            beyond += 1
            continue
        disagreements.append((raw[:300], schema_valid, reason))
    assert disagreements == []
    assert beyond > 0  # the corpus reaches the listed exceptions, so they are real


@pytest.mark.parametrize("doc", [doc for _, doc, _ in BAD_DOCUMENTS],
                         ids=[name for name, _, _ in BAD_DOCUMENTS])
def test_each_bad_document_of_the_parser_is_invalid_or_beyond_the_schema(
        validator: Any, doc: object) -> None:
    with pytest.raises(BadEvent) as raised:
        parse_event(orjson.dumps(doc))
    assert not validator.is_valid(doc) or beyond_json_schema(doc, raised.value.reason)
