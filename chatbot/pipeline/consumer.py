"""The Kafka end of the pipeline: fetch a batch, store its events together with the offsets
it covers in one database transaction, dead-letter its bad records, then commit the same
offsets to Kafka (for lag monitoring; the database's are the ones resumed from).

Exactly once into the database, with no row per event: a partition resumes at the offset
stored with the results (chatbot/pipeline/claims.py), so a redelivery after a crash or a
rebalance is skipped; an event id repeated by a producer within a window of offsets is
dropped (chatbot/pipeline/recent.py). When storing fails nothing moves: the partitions
start over from their stored offsets after an exponential backoff, for as long as it takes.

The anomaly topic's records decode one by one; another topic may come with a
:class:`BatchReader` that judges its new records a batch at a time first (Hubble flows: owner
lookups, coverage), in the same group, with the same offsets and dead letters; when a reader
cannot judge, only its topic waits (chatbot/pipeline/readers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Literal, Protocol

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.chaos import crash_point
from chatbot.clock import Clock
from chatbot.config.rules import Rules
from chatbot.errors import BadEvent, NoEvent
from chatbot.events.fingerprint import fingerprint as plain_fingerprint
from chatbot.events.model import FlowEvent
from chatbot.events.parse import parse_event
from chatbot.events.problem import Problem
from chatbot.metrics import Metrics
from chatbot.pipeline.batch import EMPTY_RECORD, BatchReader, Decode
from chatbot.pipeline.claims import Claims, Partition, Seeker
from chatbot.pipeline.collector import collector_tuned
from chatbot.pipeline.commits import KafkaCommits
from chatbot.pipeline.dead_letter import DeadLetters, KafkaRecord
from chatbot.pipeline.readers import Pausable, TopicReaders
from chatbot.pipeline.recent import BLOCK
from chatbot.store.ingest import Fingerprint, IngestResult, ingest
from chatbot.store.offsets import Move, OffsetConflict, move

Batch = Mapping[Partition, Sequence[KafkaRecord]]
Stage = Literal["fetch", "store"]
__all__ = ["MAX_RECORDS", "Backoff", "Batch", "FlowConsumer", "KafkaConsumer", "Partition"]


class KafkaConsumer(Seeker, Pausable, Protocol):
    """The parts of ``AIOKafkaConsumer`` (started, with a group, auto-commit off) used here."""

    def subscribe(self, topics: Sequence[str], *, listener: object) -> None: ...
    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batch: ...
    async def commit(self, offsets: Mapping[Partition, int]) -> None: ...


@dataclass(frozen=True)
class Backoff:
    first: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.first * 2.0 ** max(failures - 1, 0))


# Records per fetched batch: one database transaction each. A flood repeats few flows, so a
# large batch folds many events into one counter update per flow (bench/README.md: 5,000 →
# 20,000 halved the database's share); when idle a batch is whatever has arrived, so this
# costs no latency. aiokafka hands over at most what one fetch per partition brought
# (max_partition_fetch_bytes in kafka_clients.py).
MAX_RECORDS = 20_000


@dataclass
class _Work:
    """What one batch stores: its new events, its bad records, the offsets it moves."""

    events: list[FlowEvent] = field(default_factory=list)
    bad: list[tuple[KafkaRecord, BadEvent]] = field(default_factory=list)
    moves: dict[Partition, Move] = field(default_factory=dict)
    repeated: int = 0


class FlowConsumer:
    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        topic: str,
        group: str,
        dead_letters: DeadLetters,
        sessions: async_sessionmaker[AsyncSession],
        rules: Rules,
        clock: Clock,
        metrics: Metrics,
        logger: logging.Logger,
        decode: Decode = parse_event,
        readers: Mapping[str, BatchReader] | None = None,
        fingerprint: Fingerprint = plain_fingerprint,
        on_stored: Callable[[IngestResult], None] = lambda _result: None,
        max_records: int = MAX_RECORDS,
        poll_timeout_ms: int = 500,
        backoff: Backoff = Backoff(),
        recent_block: int = BLOCK,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._group = group
        self._dead_letters = dead_letters
        self._sessions = sessions
        self._rules = rules
        self._clock = clock
        self._metrics = metrics
        self._log = logger
        self._decode = decode
        self._fingerprint = fingerprint
        self._on_stored = on_stored
        self._max_records = max_records
        self._poll_timeout_ms = poll_timeout_ms
        self._backoff = backoff
        self._batch_lock = asyncio.Lock()
        self._claims = Claims(consumer=consumer, sessions=sessions, group=group,
                              batch_lock=self._batch_lock, logger=logger, block=recent_block)
        self._readers = TopicReaders(readers or {}, consumer=consumer, claims=self._claims,
                                     clock=clock, delay=backoff.delay, logger=logger)
        self._commits = KafkaCommits(
            consumer=consumer, logger=logger, describe=_describe,
            on_result=lambda result: metrics.kafka_commits.labels(result).inc())
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._failures = 0
        self._failing: Stage | None = None
        self._last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """Ready: running, the last batch (if any) was stored, and no topic is held."""
        return self._running and self.last_error is None

    @property
    def last_error(self) -> str | None:
        return self._last_error or self._readers.waiting

    @property
    def partitions(self) -> frozenset[tuple[str, int]]:
        """The partitions this member has claimed, as (topic, partition)."""
        return frozenset((tp.topic, tp.partition) for tp in self._claims.owned)

    async def run(self) -> None:
        """Consume until :meth:`stop`; storage and Kafka errors are retried, never raised."""
        self._running = True
        self._stopped.clear()
        try:
            self._consumer.subscribe([self._topic, *self._readers.topics],
                                    listener=self._claims)
            with collector_tuned():
                while not self._stopping.is_set():
                    await self._step()
            await self._commits.flush()
        finally:
            self._running = False
            self._stopped.set()

    async def stop(self) -> None:
        """Let the in-flight batch finish storing and committing, then return."""
        self._stopping.set()
        if self._running:
            await self._stopped.wait()

    async def _step(self) -> None:
        self._readers.release_due()
        claims_before = self._claims.made
        try:
            batch = await self._consumer.getmany(timeout_ms=self._poll_timeout_ms,
                                                 max_records=self._max_records)
        except KafkaError as exc:
            await self._failed(exc, "fetching from Kafka failed", stage="fetch")
            return
        if batch:
            if await self._process(batch, claims_before):
                self._recovered()
        elif self._failing == "fetch":
            self._recovered()

    async def _process(self, batch: Batch, claims_before: int) -> bool:
        started = self._clock.monotonic()
        failure: Exception | None = None
        async with self._batch_lock:
            try:
                usable = await self._usable(batch, claims_before)
                decoders = await self._readers.prepare(batch, usable)
                work = self._sort(batch, usable, decoders)
                result = await self._store(work)
            except OffsetConflict as conflict:  # another member has these partitions now
                self._readers.settle(stored=False)
                self._log.warning("batch dropped: %s; resuming from the stored offsets",
                                  conflict)
                await self._start_over_from_database(batch)
                return True
            except Exception as exc:  # any failure to store: start over, keep consuming
                self._readers.settle(stored=False)
                failure = exc
                await self._start_over(batch)
            else:
                self._readers.settle(stored=True)
                self._count(result, work)
                crash_point("after_store")
                self._commit(work)
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

    async def _usable(self, batch: Batch, claims_before: int) -> set[Partition]:
        """The batch's partitions whose records may be stored: claimed before the fetch
        began. The others' records were (or may have been) fetched from an old position:
        they are left out and read again after the claim's seek — a claim that was due is
        made now, one made during the fetch is made again."""
        usable: set[Partition] = set()
        late: list[Partition] = []
        for tp in batch:
            claim = self._claims.owned.get(tp)
            if claim is not None and claim.number <= claims_before:
                usable.add(tp)
            elif claim is not None:
                await self._claims.restart(tp, claim.stored)
            elif tp in self._claims.unclaimed:
                late.append(tp)
        if late:
            await self._claims.claim(late)
        return usable

    def _sort(self, batch: Batch, usable: Set[Partition], decoders: Mapping[str, Decode]
              ) -> _Work:
        """Split the batch into new events, repeats, already-stored records and bad ones,
        partition by partition, and note how far each partition's offsets move. The one
        loop that runs per consumed record, kept tight."""
        work = _Work()
        owned = self._claims.owned
        fresh = work.events
        for tp, records in batch.items():
            claim = owned.get(tp)
            if claim is None or not records or tp not in usable:
                continue
            decode = decoders.get(tp.topic, self._decode)
            resume = claim.resume
            repeated = claim.recent.repeated
            before = len(fresh)
            for record in records:
                value = record.value
                try:
                    if not value:
                        raise BadEvent(EMPTY_RECORD, category=Problem.EMPTY)
                    event = decode(value)
                except BadEvent as error:
                    if record.offset >= resume:
                        work.bad.append((record, error))
                    continue
                except NoEvent:
                    continue
                offset = record.offset
                if repeated(event.event_id, offset):
                    work.repeated += offset >= resume
                elif offset >= resume:
                    fresh.append(event)
            last = records[-1].offset
            if last >= resume:
                work.moves[tp] = Move(topic=tp.topic, partition=tp.partition, seen=claim.stored,
                                      next_offset=last + 1, events=len(fresh) - before)
        return work

    async def _store(self, work: _Work) -> IngestResult:
        # Dead letters first: once the offsets move, these records are never read again.
        await self._dead_letters.send([(record, error.reason) for record, error in work.bad])
        result = IngestResult()
        if work.moves:
            async with self._sessions.begin() as session:
                now = self._clock.now()
                await move(session, group=self._group, moves=list(work.moves.values()),
                           now=now)
                if work.events:
                    result = await ingest(session, work.events, rules=self._rules, now=now,
                                          fingerprint=self._fingerprint)
        for tp, step in work.moves.items():
            claim = self._claims.owned.get(tp)
            if claim is not None:
                claim.stored = step.next_offset
        result.events = len(work.events) + work.repeated
        result.redelivered = work.repeated
        return result

    def _count(self, result: IngestResult, work: _Work) -> None:
        metrics = self._metrics
        metrics.events_consumed.inc(result.events)
        metrics.events_redelivered.inc(result.redelivered)
        metrics.anomalies_detected.inc(len(result.new_anomalies))
        for record, error in work.bad:
            metrics.bad_events.labels(error.category).inc()
            source = f"{record.topic}/{record.partition}/{record.offset}"
            self._log.warning("bad event %s dead-lettered: %s", source, error.reason,
                              extra={"source": source, "reason": error.reason})

    def _commit(self, work: _Work) -> None:
        """The stored offsets, also in Kafka, in the background (KafkaCommits)."""
        self._commits.offer({tp: step.next_offset for tp, step in work.moves.items()
                             if tp in self._claims.owned})

    async def _start_over(self, batch: Batch) -> None:
        """Nothing of the batch was stored: every partition it covered starts over from its
        stored offset, its window of recent ids rebuilt."""
        assigned = self._consumer.assignment()
        for tp in batch:
            claim = self._claims.owned.get(tp)
            if claim is not None and tp in assigned:
                try:
                    await self._claims.restart(tp, claim.stored)
                except Exception:
                    self._claims.forget([tp])

    async def _start_over_from_database(self, batch: Batch) -> None:
        assigned = [tp for tp in batch if tp in self._consumer.assignment()]
        try:
            await self._claims.claim(assigned)
        except Exception as exc:
            self._claims.forget(assigned)
            self._log.warning("could not read stored offsets; will retry: %s", _describe(exc))

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


def _describe(exc: BaseException) -> str:
    """One short line for logs and readiness; a DBAPI error's SQL and parameters are left out
    because they carry event data."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = f"{type(cause).__name__}: {cause}".splitlines()[0]
    return text if len(text) <= 300 else text[:297] + "..."

