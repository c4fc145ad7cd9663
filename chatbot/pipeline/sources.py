"""The pipeline fed from raw lines instead of Kafka: the embedded demo replays bundled JSON
lines through the same validation, dedup and storage code the consumer uses.

Each batch of lines is one transaction; a bad line goes to ``dead_letter_sink`` with its
reason instead of a dead-letter topic. Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.pipeline.batch import split
from chatbot.store.ingest import IngestResult, ingest


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    value: bytes


@dataclass
class LineTotals:
    lines: int = 0
    events: int = 0
    bad: int = 0
    redelivered: int = 0
    new_anomalies: int = 0


async def ingest_lines(
    lines: Iterable[bytes],
    *,
    sessions: async_sessionmaker[AsyncSession],
    rules: Rules,
    clock: Clock,
    dead_letter_sink: Callable[[bytes, str], None],
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
    on_stored: Callable[[IngestResult], None] | None = None,
) -> LineTotals:
    """Store every valid line; ``progress(lines_done, bad_so_far)`` runs after each batch."""
    totals = LineTotals()
    numbered = (Line(n, line.rstrip(b"\r\n")) for n, line in enumerate(lines, start=1))
    for chunk in _chunks((line for line in numbered if line.value.strip()), batch_size):
        events, bad = split(chunk)
        async with sessions.begin() as session:
            result = await ingest(session, events, rules=rules, now=clock.now())
        for line, reason in bad:
            dead_letter_sink(line.value, reason)
        totals.lines = chunk[-1].number
        totals.events += result.events
        totals.bad += len(bad)
        totals.redelivered += result.redelivered
        totals.new_anomalies += len(result.new_anomalies)
        if on_stored is not None and result.events:
            on_stored(result)
        if progress is not None:
            progress(totals.lines, totals.bad)
    return totals


def _chunks(items: Iterable[Line], size: int) -> Iterator[list[Line]]:
    if size < 1:
        raise ValueError("batch_size must be at least 1")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
