"""Offsets to Kafka, off the critical path. The database holds the offsets the pipeline
resumes from (chatbot/store/offsets.py); Kafka gets the same ones only so lag monitoring
and ``kafka-consumer-groups`` see progress. So the consume loop does not wait for the
broker's answer: one commit is in flight at a time, and offsets that arrive meanwhile are
merged into the next. :meth:`flush` waits for all of it (on stop)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Set
from typing import Protocol

from aiokafka.errors import KafkaError

from chatbot.pipeline.claims import Partition


class Committer(Protocol):
    async def commit(self, offsets: Mapping[Partition, int]) -> None: ...
    def assignment(self) -> Set[Partition]: ...


class KafkaCommits:
    def __init__(self, *, consumer: Committer, logger: logging.Logger,
                 on_result: Callable[[str], None], describe: Callable[[BaseException], str]
                 ) -> None:
        self._consumer = consumer
        self._log = logger
        self._on_result = on_result
        self._describe = describe
        self._pending: dict[Partition, int] = {}
        self._task: asyncio.Task[None] | None = None

    def offer(self, offsets: Mapping[Partition, int]) -> None:
        if not offsets:
            return
        self._pending.update(offsets)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send(), name="kafka-commits")

    async def flush(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _send(self) -> None:
        while self._pending:
            assigned = self._consumer.assignment()  # a revoked partition is another's now
            offsets = {tp: offset for tp, offset in self._pending.items() if tp in assigned}
            self._pending = {}
            if not offsets:
                continue
            try:
                await self._consumer.commit(offsets)
            except KafkaError as exc:
                self._on_result("failed")
                self._log.warning("offset commit to Kafka failed after the batch was stored "
                                  "(the database holds the offsets): %s", self._describe(exc))
            else:
                self._on_result("ok")
