"""The embedded demo's replay: bundled JSON lines go through the same validation, dedup and
storage as Kafka records; bad lines go to the sink with their reason, and a replay of the
same lines changes nothing."""

from __future__ import annotations

from chatbot.clock import ManualClock
from chatbot.pipeline.sources import LineTotals, ingest_lines
from chatbot.store.ingest import IngestResult
from tests.events.samples import edited, encoded, kubernetes_event
from tests.pipeline.harness import RULES, Store

LINES = [
    encoded(kubernetes_event("a")) + b"\n",
    encoded(kubernetes_event("b")) + b"\r\n",
    b"\n",
    b'{"schema_version": 1\n',
    encoded(kubernetes_event("a")) + b"\n",
    encoded(edited(kubernetes_event("c"), "client.name", "cart")),
]


async def test_lines_are_stored_once_and_bad_lines_go_to_the_sink(store: Store) -> None:
    dead: list[tuple[bytes, str]] = []
    progress: list[tuple[int, int]] = []
    stored: list[IngestResult] = []

    totals = await ingest_lines(
        LINES, sessions=store.sessions, rules=RULES, clock=ManualClock(),
        dead_letter_sink=lambda raw, reason: dead.append((raw, reason)), batch_size=2,
        progress=lambda done, bad: progress.append((done, bad)), on_stored=stored.append)

    assert totals == LineTotals(lines=6, events=4, bad=1, redelivered=1, new_anomalies=2)
    assert sorted((await store.event_counts()).values()) == [1, 2]
    assert dead == [(b'{"schema_version": 1', dead[0][1])]
    assert dead[0][1].startswith("malformed JSON")
    assert progress == [(2, 0), (5, 1), (6, 1)]
    assert sum(len(result.new_anomalies) for result in stored) == 2


async def test_replaying_the_same_lines_changes_nothing(store: Store) -> None:
    def ignore(raw: bytes, reason: str) -> None:
        pass

    await ingest_lines(LINES, sessions=store.sessions, rules=RULES, clock=ManualClock(),
                       dead_letter_sink=ignore)
    before = await store.event_counts()

    again = await ingest_lines(iter(LINES), sessions=store.sessions, rules=RULES,
                               clock=ManualClock(), dead_letter_sink=ignore)

    assert await store.event_counts() == before
    assert (again.events, again.redelivered, again.new_anomalies) == (4, 4, 0)
