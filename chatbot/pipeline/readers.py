"""The consumer's further topics, each with the :class:`BatchReader` that judges its batches
(Hubble flows), and the holds that keep one reader's trouble off the other topics: a reader
that cannot judge (the approved intents not read yet, owner lookups refused) has its topic's
fetched partitions put back to their stored offsets and the topic paused for a backoff — at
least the delay a TemporaryError names — while the rest of the batch is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Protocol

from chatbot.clock import Clock
from chatbot.errors import ChatbotError, TemporaryError
from chatbot.pipeline.batch import BatchReader, Decode
from chatbot.pipeline.claims import Claims, Partition
from chatbot.pipeline.dead_letter import KafkaRecord


class Pausable(Protocol):
    """The pausing part of ``AIOKafkaConsumer``."""

    def assignment(self) -> Set[Partition]: ...
    def pause(self, *partitions: Partition) -> None: ...
    def resume(self, *partitions: Partition) -> None: ...
    def paused(self) -> Set[Partition]: ...


@dataclass(frozen=True)
class _Hold:
    until: float
    reason: str
    failures: int


class TopicReaders:
    def __init__(self, readers: Mapping[str, BatchReader], *, consumer: Pausable,
                 claims: Claims, clock: Clock, delay: Callable[[int], float],
                 logger: logging.Logger) -> None:
        """``delay(failures)``: the backoff after that many failures in a row."""
        self._readers = dict(readers)
        self._consumer = consumer
        self._claims = claims
        self._clock = clock
        self._delay = delay
        self._log = logger
        self._held: dict[str, _Hold] = {}

    @property
    def topics(self) -> list[str]:
        return list(self._readers)

    @property
    def waiting(self) -> str | None:
        """Why topics are held, for readiness; None when none is."""
        if not self._held:
            return None
        return "; ".join(f"{topic} waits: {hold.reason}" for topic, hold in self._held.items())

    def release_due(self) -> None:
        """Resume the held topics whose time is up (their next batch is judged again); a
        partition assigned meanwhile is not paused, which is fine: it is judged too."""
        now = self._clock.monotonic()
        due = {topic for topic, hold in self._held.items() if hold.until <= now}
        if due:
            self._consumer.resume(*[tp for tp in self._consumer.paused() if tp.topic in due])

    async def prepare(self, batch: Mapping[Partition, Sequence[KafkaRecord]],
                      usable: set[Partition]) -> dict[str, Decode]:
        """Each reader's decoder for this batch, from the new records of its topic. A reader
        that cannot judge them has its topic held: its partitions leave ``usable``."""
        decoders: dict[str, Decode] = {}
        owned = self._claims.owned
        for topic, reader in self._readers.items():
            values = [record.value for tp, records in batch.items()
                      if tp.topic == topic and tp in usable and (claim := owned.get(tp))
                      for record in records if record.value and record.offset >= claim.resume]
            try:
                decoders[topic] = await reader.prepare(values)
            except ChatbotError as error:
                reader.settle(stored=False)
                fetched = [tp for tp in batch if tp.topic == topic]
                await self._hold(topic, fetched, error)
                usable.difference_update(fetched)
            else:
                if values and topic in self._held:
                    self._log.info("%s: reading again", topic)
                    del self._held[topic]
        return decoders

    def settle(self, *, stored: bool) -> None:
        for reader in self._readers.values():
            reader.settle(stored=stored)

    async def _hold(self, topic: str, fetched: list[Partition], error: ChatbotError) -> None:
        previous = self._held.get(topic)
        failures = previous.failures + 1 if previous else 1
        named = error.delay if isinstance(error, TemporaryError) else 0.0
        delay = max(named, self._delay(failures))
        self._held[topic] = _Hold(until=self._clock.monotonic() + delay, reason=str(error),
                                  failures=failures)
        self._log.warning("%s waits %.1fs (attempt %d): %s; the other topics go on", topic,
                          delay, failures, error)
        assigned = self._consumer.assignment()
        for tp in fetched:
            claim = self._claims.owned.get(tp)
            if claim is not None and tp in assigned:
                await self._claims.restart(tp, claim.stored)
        self._consumer.pause(*[tp for tp in assigned if tp.topic == topic])
