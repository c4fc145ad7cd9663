"""Split one batch of raw records into valid events and bad records (with a reason each).

Pure: no I/O. The consumer stores the events and dead-letters the bad records; the embedded
demo does the same with bundled lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from chatbot.errors import BadEvent
from chatbot.events.model import FlowEvent
from chatbot.events.parse import parse_event

EMPTY_RECORD = "empty record"


class HasValue(Protocol):
    @property
    def value(self) -> bytes | None: ...


R = TypeVar("R", bound=HasValue)

# Short, fixed metric labels for the human reasons parse_event gives; first match wins.
_CATEGORIES = (
    (EMPTY_RECORD, "empty"),
    ("-byte limit", "oversize"),
    ("not valid UTF-8", "not_utf8"),
    ("malformed JSON", "malformed_json"),
    ("must be a JSON object", "not_object"),
    ("schema_version", "schema_version"),
    ("missing field", "missing_field"),
    ("target needs", "missing_field"),
    ("unknown field", "unknown_field"),
    ("must be a string", "wrong_type"),
    ("must be an object", "wrong_type"),
)
CATEGORIES = frozenset({label for _, label in _CATEGORIES} | {"invalid_value"})


def split(records: Iterable[R]) -> tuple[list[FlowEvent], list[tuple[R, str]]]:
    events: list[FlowEvent] = []
    bad: list[tuple[R, str]] = []
    for record in records:
        value = record.value
        if not value:
            bad.append((record, EMPTY_RECORD))
            continue
        try:
            events.append(parse_event(value))
        except BadEvent as exc:
            bad.append((record, exc.reason))
    return events, bad


def reason_category(reason: str) -> str:
    """A short label for metrics; anything else parse_event rejects is an invalid value."""
    for marker, label in _CATEGORIES:
        if marker in reason:
            return label
    return "invalid_value"
