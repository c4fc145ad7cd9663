"""The published JSON Schema (chatbot/schema/flow-anomaly-v1.json) agrees with the parser."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from tests.events.samples import internet_event, kafka_event, kubernetes_event
from tests.events.test_parse import BAD_DOCUMENTS

# Checks JSON Schema cannot state; the parser enforces them (see test_parse).
SEMANTIC_ONLY = {"time without zone", "time not a time", "internet bad ip"}


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(resources.files("chatbot").joinpath(
        "schema/flow-anomaly-v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("doc", [kubernetes_event(), kafka_event(), internet_event()],
                         ids=["kubernetes", "kafka", "internet"])
def test_valid_events_validate(validator: Any, doc: dict[str, Any]) -> None:
    assert list(validator.iter_errors(doc)) == []


@pytest.mark.parametrize(
    "doc", [case[1] for case in BAD_DOCUMENTS if case[0] not in SEMANTIC_ONLY],
    ids=[case[0] for case in BAD_DOCUMENTS if case[0] not in SEMANTIC_ONLY])
def test_bad_events_are_invalid_under_the_schema_too(validator: Any, doc: object) -> None:
    assert list(validator.iter_errors(doc)) != []
