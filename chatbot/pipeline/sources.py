"""The pipeline fed from raw lines instead of Kafka: the embedded demo replays bundled JSON
lines through the same validation, dedup and storage code the consumer uses.

Each batch of lines is one transaction, and it stores how far the source got, as a consumer
stores its offsets (group ``lines``, the source's name as the topic, line numbers as
offsets): replaying a source skips the lines already stored, and an event id repeated within
the source is counted once. A bad line goes to ``dead_letter_sink`` with its reason instead
of a dead-letter topic. Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.events.model import FlowEvent
from chatbot.events.parse import parse_event
from chatbot.pipeline.batch import Decode, split
from chatbot.pipeline.recent import RecentIds
from chatbot.store.ingest import IngestResult, ingest
from chatbot.store.offsets import Move, move, stored_offsets

LINES_GROUP = "lines"


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    value: bytes

    @property
    def offset(self) -> int:
        return self.number - 1


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
    source: str = "samples",
    batch_size: int = 500,
    decode: Decode = parse_event,
    progress: Callable[[int, int], None] | None = None,
    on_stored: Callable[[IngestResult], None] | None = None,
) -> LineTotals:
    """Store every valid line not stored before; ``progress(lines_done, bad_so_far)`` runs
    after each batch."""
    totals = LineTotals()
    async with sessions() as session:
        stored = (await stored_offsets(session, group=LINES_GROUP,
                                       partitions=[(source, 0)])).get((source, 0))
    done = stored or 0
    recent = RecentIds()
    numbered = (Line(n, line.rstrip(b"\r\n")) for n, line in enumerate(lines, start=1))
    for chunk in _chunks((line for line in numbered if line.value.strip()), batch_size):
        events, bad = split(chunk, decode=decode)
        already = done
        fresh: list[FlowEvent] = []
        for line, event in events:
            repeated = recent.repeated(event.event_id, line.offset)  # fed either way
            if repeated or line.offset < already:
                totals.redelivered += 1
            else:
                fresh.append(event)
        totals.events += len(events)
        result = IngestResult()
        if chunk[-1].number > already:
            async with sessions.begin() as session:
                now = clock.now()
                await move(session, group=LINES_GROUP, now=now, moves=[
                    Move(topic=source, partition=0, seen=stored, next_offset=chunk[-1].number,
                         events=len(fresh))])
                result = await ingest(session, fresh, rules=rules, now=now)
            stored = done = chunk[-1].number
        for line, error in bad:
            if line.offset >= already:
                dead_letter_sink(line.value, error.reason)
                totals.bad += 1
        totals.lines = chunk[-1].number
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
