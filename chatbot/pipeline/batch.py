"""Split one batch of raw records into valid events and bad records (with the BadEvent that
names the reason and its category).

Pure: no I/O. The consumer stores the events and dead-letters the bad records; the embedded
demo does the same with bundled lines. The decoder is the caller's — the consumer's own fast
one (chatbot/events/decoder.py), or the plain reference parser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from chatbot.errors import BadEvent
from chatbot.events.model import FlowEvent
from chatbot.events.parse import parse_event
from chatbot.events.problem import Problem

EMPTY_RECORD = "empty record"
CATEGORIES = frozenset(Problem)
Decode = Callable[[bytes], FlowEvent]


class HasValue(Protocol):
    @property
    def value(self) -> bytes | None: ...


class BatchReader(Protocol):
    """A topic whose records are judged a batch at a time, with I/O, before they are decoded:
    Hubble flows (chatbot/sensors/hubble_records.py). ``prepare`` gets the batch's new
    record values and returns the decoder for exactly those values, which raises
    ``BadEvent`` for a bad one and ``NoEvent`` for one that makes no event; ``settle`` then
    says whether the batch was stored (when not, it is read again and must be judged anew)."""

    async def prepare(self, values: Sequence[bytes]) -> Decode: ...
    def settle(self, *, stored: bool) -> None: ...


R = TypeVar("R", bound=HasValue)


def split(records: Iterable[R], *, decode: Decode = parse_event
          ) -> tuple[list[tuple[R, FlowEvent]], list[tuple[R, BadEvent]]]:
    """(record, event) for each valid record and (record, error) for each bad one, in the
    order of ``records``."""
    events: list[tuple[R, FlowEvent]] = []
    bad: list[tuple[R, BadEvent]] = []
    append = events.append
    for record in records:
        value = record.value
        if not value:
            bad.append((record, BadEvent(EMPTY_RECORD, category=Problem.EMPTY)))
            continue
        try:
            append((record, decode(value)))
        except BadEvent as exc:
            bad.append((record, exc))
    return events, bad
