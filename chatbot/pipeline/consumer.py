"""The Kafka end of the pipeline: fetch a batch, store it in one transaction, dead-letter its
bad records, then commit exactly the offsets that batch covered.

Offsets move only after the batch is durably stored (events in the database, bad records
acknowledged by the dead-letter topic). When storing fails nothing is committed: the
partitions are rewound to the batch's first offsets and the batch is fetched again after an
exponential backoff, for as long as it takes; event-id dedup makes the retry exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Literal, Protocol

from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.chaos import crash_point
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.events.model import FlowEvent
from chatbot.metrics import Metrics
from chatbot.pipeline.batch import reason_category, split
from chatbot.pipeline.dead_letter import DeadLetters, KafkaRecord
from chatbot.store.ingest import IngestResult, ingest
from chatbot.store.seen_cache import NoSeenCache, SeenCache


class Partition(Protocol):
    """An aiokafka ``TopicPartition``; the same objects go back into ``commit``/``seek``."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...


Batch = Mapping[Partition, Sequence[KafkaRecord]]
Stage = Literal["fetch", "store"]


class KafkaConsumer(Protocol):
    """The parts of ``AIOKafkaConsumer`` (started, with a group, auto-commit off) used here."""

    def subscribe(self, topics: Sequence[str], *, listener: object) -> None: ...
    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batch: ...
    async def commit(self, offsets: Mapping[Partition, int]) -> None: ...
    def seek(self, partition: Partition, offset: int) -> None: ...
    def assignment(self) -> Set[Partition]: ...


@dataclass(frozen=True)
class Backoff:
    first: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.first * 2.0 ** max(failures - 1, 0))


# Records per fetched batch: one database transaction and one offset commit each. A flood
# repeats few flows, so a large batch folds many events into one counter update per flow
# (bench/README.md: 500 → 5000 more than doubled the stored rate); when idle a batch is
# whatever has arrived, so this costs no latency.
MAX_RECORDS = 5000


class FlowConsumer:
    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        topic: str,
        dead_letters: DeadLetters,
        sessions: async_sessionmaker[AsyncSession],
        rules: Rules,
        clock: Clock,
        metrics: Metrics,
        logger: logging.Logger,
        on_stored: Callable[[IngestResult], None] = lambda _result: None,
        max_records: int = MAX_RECORDS,
        poll_timeout_ms: int = 500,
        backoff: Backoff = Backoff(),
        seen: SeenCache | None = None,
    ) -> None:
        self._seen: SeenCache = seen or NoSeenCache()
        self._consumer = consumer
        self._topic = topic
        self._dead_letters = dead_letters
        self._sessions = sessions
        self._rules = rules
        self._clock = clock
        self._metrics = metrics
        self._log = logger
        self._on_stored = on_stored
        self._max_records = max_records
        self._poll_timeout_ms = poll_timeout_ms
        self._backoff = backoff
        self._batch_lock = asyncio.Lock()
        self._ownership = _Ownership(self._batch_lock)
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._failures = 0
        self._failing: Stage | None = None
        self._last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """Ready: running, and the last batch (if any) was stored."""
        return self._running and self._last_error is None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    async def run(self) -> None:
        """Consume until :meth:`stop`; storage and Kafka errors are retried, never raised."""
        self._running = True
        self._stopped.clear()
        try:
            self._consumer.subscribe([self._topic], listener=self._ownership)
            while not self._stopping.is_set():
                await self._step()
        finally:
            self._running = False
            self._stopped.set()

    async def stop(self) -> None:
        """Let the in-flight batch finish storing and committing, then return."""
        self._stopping.set()
        if self._running:
            await self._stopped.wait()

    async def _step(self) -> None:
        try:
            batch = await self._consumer.getmany(timeout_ms=self._poll_timeout_ms,
                                                 max_records=self._max_records)
        except KafkaError as exc:
            await self._failed(exc, "fetching from Kafka failed", stage="fetch")
            return
        if batch:
            if await self._process(batch):
                self._recovered()
        elif self._failing == "fetch":
            self._recovered()

    async def _process(self, batch: Batch) -> bool:
        started = self._clock.monotonic()
        events, bad = split(record for records in batch.values() for record in records)
        failure: Exception | None = None
        async with self._batch_lock:
            try:
                result = await self._store(events)
                await self._dead_letters.send(bad)
            except Exception as exc:  # any failure to store: rewind and retry, keep consuming
                self._rewind(batch)
                failure = exc
            else:
                self._count(result, bad)
                crash_point("after_store")
                await self._commit(batch)
        if failure is not None:
            # Back off outside the lock, so a rebalance need not wait for the retry.
            self._metrics.store_failures.inc()
            await self._failed(failure, "storing a batch failed; it will be fetched again",
                               stage="store")
            return False
        self._metrics.batch_seconds.observe(self._clock.monotonic() - started)
        if result.events:
            self._notify(result)
        return True

    async def _store(self, events: Sequence[FlowEvent]) -> IngestResult:
        if not events:
            return IngestResult()
        known = await self._seen.known([event.event_id for event in events])
        fresh = [event for event in events if event.event_id not in known]
        result = IngestResult()
        if fresh:
            async with self._sessions.begin() as session:
                result = await ingest(session, fresh, rules=self._rules, now=self._clock.now())
            await self._seen.remember([event.event_id for event in fresh])
        result.events = len(events)
        result.redelivered += len(events) - len(fresh)
        return result

    def _count(self, result: IngestResult, bad: Iterable[tuple[KafkaRecord, str]]) -> None:
        metrics = self._metrics
        metrics.events_consumed.inc(result.events)
        metrics.events_redelivered.inc(result.redelivered)
        metrics.anomalies_detected.inc(len(result.new_anomalies))
        for record, reason in bad:
            metrics.bad_events.labels(reason_category(reason)).inc()
            source = f"{record.topic}/{record.partition}/{record.offset}"
            self._log.warning("bad event %s dead-lettered: %s", source, reason,
                              extra={"source": source, "reason": reason})

    async def _commit(self, batch: Batch) -> None:
        # Only partitions still ours: a revoked one may already be read by another member,
        # and its records here are stored anyway (the new owner's redelivery is a no-op).
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()
                   if records and tp in self._ownership.owned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            self._metrics.kafka_commits.labels("failed").inc()
            self._log.warning("offset commit failed after the batch was stored (it will be "
                              "redelivered and deduplicated): %s", _describe(exc))
        else:
            self._metrics.kafka_commits.labels("ok").inc()

    def _rewind(self, batch: Batch) -> None:
        assigned = self._consumer.assignment()
        for tp, records in batch.items():
            if records and tp in assigned:
                self._consumer.seek(tp, records[0].offset)

    async def _failed(self, exc: Exception, what: str, *, stage: Stage) -> None:
        self._failures += 1
        self._failing = stage
        self._last_error = _describe(exc)
        delay = self._backoff.delay(self._failures)
        self._log.warning("%s (attempt %d, retry in %.1fs): %s", what, self._failures, delay,
                          self._last_error, exc_info=self._failures == 1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    def _recovered(self) -> None:
        if self._failing is not None:
            self._log.info("recovered after %d failed attempts", self._failures)
        self._failures = 0
        self._failing = None
        self._last_error = None

    def _notify(self, result: IngestResult) -> None:
        try:
            self._on_stored(result)
        except Exception:
            self._log.exception("on_stored callback failed; the batch is stored regardless")


class _Ownership(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Which partitions this member may commit. Revocation waits for the in-flight batch, so
    a batch that is stored gets committed before its partitions go to another member."""

    def __init__(self, batch_lock: asyncio.Lock) -> None:
        self.owned: set[Partition] = set()
        self._batch_lock = batch_lock

    async def on_partitions_revoked(self, revoked: Iterable[Partition]) -> None:
        async with self._batch_lock:
            self.owned.difference_update(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[Partition]) -> None:
        self.owned = set(assigned)


def _describe(exc: BaseException) -> str:
    """One short line for logs and readiness; a DBAPI error's SQL and parameters are left out
    because they carry event data."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = f"{type(cause).__name__}: {cause}".splitlines()[0]
    return text if len(text) <= 300 else text[:297] + "..."
