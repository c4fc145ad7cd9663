"""Send records that are not valid events to the dead-letter topic, unchanged, with the reason.

The value and key are the original bytes; headers say why (``x-dlq-reason``), where from
(``x-dlq-source`` = ``topic/partition/offset``) and when (``x-dlq-at``), after the original
headers. The consumer awaits every send of a batch before committing its offsets: a
dead-lettered record counts as stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Protocol

from aiokafka.errors import MessageSizeTooLargeError

from chatbot.clock import Clock

REASON_HEADER = "x-dlq-reason"
SOURCE_HEADER = "x-dlq-source"
AT_HEADER = "x-dlq-at"
TRUNCATED_HEADER = "x-dlq-truncated"
MAX_REASON_BYTES = 1024
Headers = Sequence[tuple[str, bytes]]


class KafkaRecord(Protocol):
    """The parts of an aiokafka ``ConsumerRecord`` the pipeline reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


class Producer(Protocol):
    """``AIOKafkaProducer.send``: enqueues, returns a future resolved when the broker acks."""

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *,
        headers: Headers | None = None,
    ) -> Awaitable[object]: ...


class DeadLetters:
    def __init__(self, *, producer: Producer, topic: str, clock: Clock,
                 truncate_to: int = 512 * 1024) -> None:
        self._producer = producer
        self._topic = topic
        self._clock = clock
        self._truncate_to = truncate_to

    async def send(self, failures: Sequence[tuple[KafkaRecord, str]]) -> None:
        """Send every bad record of a batch and wait until the broker has all of them."""
        if not failures:
            return
        at = self._clock.now().isoformat().encode()
        pending = [await self._enqueue(record, reason, at) for record, reason in failures]
        results = await asyncio.gather(*pending, return_exceptions=True)
        for (record, reason), result in zip(failures, results, strict=True):
            if isinstance(result, MessageSizeTooLargeError):
                await self._send_truncated(record, reason, at)
            elif isinstance(result, BaseException):
                raise result

    async def _enqueue(self, record: KafkaRecord, reason: str, at: bytes) -> Awaitable[object]:
        # aiokafka refuses a record with neither key nor value; an empty value keeps it.
        value = b"" if record.value is None and record.key is None else record.value
        try:
            return await self._producer.send(self._topic, value, record.key,
                                             headers=dead_letter_headers(record, reason, at))
        except MessageSizeTooLargeError:
            return self._send_truncated(record, reason, at)

    async def _send_truncated(self, record: KafkaRecord, reason: str, at: bytes) -> None:
        # A record just under the broker's size limit no longer fits once our headers are
        # added; keep a prefix rather than block the partition behind it forever.
        value = record.value or b""
        headers = [*dead_letter_headers(record, reason, at),
                   (TRUNCATED_HEADER, str(len(value)).encode())]
        future = await self._producer.send(self._topic, value[: self._truncate_to],
                                           record.key, headers=headers)
        await future


def dead_letter_headers(record: KafkaRecord, reason: str, at: bytes) -> list[tuple[str, bytes]]:
    source = f"{record.topic}/{record.partition}/{record.offset}".encode()
    return [*(record.headers or ()), (REASON_HEADER, capped(reason)), (SOURCE_HEADER, source),
            (AT_HEADER, at)]


def capped(reason: str, limit: int = MAX_REASON_BYTES) -> bytes:
    """UTF-8 reason of at most ``limit`` bytes, never cutting a character in half."""
    data = reason.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return data
    return data[: limit - 3].decode("utf-8", errors="ignore").encode() + b"..."
