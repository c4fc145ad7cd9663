"""The review list's query string — ``?namespace=&severity=&state=&offset=&limit=`` — read
into a store :class:`~chatbot.store.listing.Filter` and a page window, or refused with words
a person can act on. ``state`` is one state, ``open`` (pending or escalated) or ``decided``;
``severity`` and ``state`` take comma-separated lists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chatbot.events.model import Severity
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.store.listing import Filter

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
STATE_GROUPS = {"open": frozenset(OPEN_STATES),
                "decided": frozenset(State) - frozenset(OPEN_STATES)}


class BadQuery(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Query:
    where: Filter
    offset: int
    limit: int


def read_query(params: Mapping[str, str]) -> Query:
    namespace = params.get("namespace", "").strip() or None
    severities: set[Severity] = set()
    for word in _words(params.get("severity", "")):
        try:
            severities.add(Severity(word))
        except ValueError:
            raise BadQuery(f"unknown severity {word!r}; use one of "
                           f"{', '.join(s.value for s in Severity)}") from None
    states: set[State] = set()
    for word in _words(params.get("state", "")):
        if word in STATE_GROUPS:
            states |= STATE_GROUPS[word]
            continue
        try:
            states.add(State(word))
        except ValueError:
            raise BadQuery(f"unknown state {word!r}; use open, decided or one of "
                           f"{', '.join(s.value for s in State)}") from None
    offset = _number(params, "offset", 0, low=0, high=10**9)
    limit = _number(params, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    return Query(Filter(namespace=namespace, severities=frozenset(severities),
                        states=frozenset(states)), offset=offset, limit=limit)


def _words(value: str) -> list[str]:
    return [word.strip().lower() for word in value.split(",") if word.strip()]


def _number(params: Mapping[str, str], key: str, default: int, *, low: int, high: int) -> int:
    raw = params.get(key, "").strip()
    if not raw:
        return default
    try:
        number = int(raw)
    except ValueError:
        raise BadQuery(f"{key} must be a whole number") from None
    if not low <= number <= high:
        raise BadQuery(f"{key} must be between {low} and {high}")
    return number
