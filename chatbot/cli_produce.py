"""``chatbot produce``: send JSON lines (files, or ``-`` for stdin) to the events topic, one
record per line, to feed a real consumer by hand or from a script.

Records are keyed so one flow (or one workload) always lands on one partition and its events
stay in order. Lines are sent as they are, valid or not, so the dead-letter path can be
exercised too.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from chatbot.config.settings import KafkaSettings
from chatbot.errors import BadEvent, Unreachable
from chatbot.events.fingerprint import fingerprint
from chatbot.events.parse import parse_event
from chatbot.pipeline.kafka_clients import producer_kwargs
from chatbot.unreachable import cause, kafka_problem

KeyBy = Literal["fingerprint-or-none", "workload", "none"]
IN_FLIGHT = 1000


async def produce(
    bootstrap: str,
    topic: str,
    sources: Sequence[str | Path],
    *,
    key_by: KeyBy = "fingerprint-or-none",
    kafka: KafkaSettings | None = None,
    progress_every: int = 1000,
    report: TextIO = sys.stderr,
) -> int:
    """Send every non-blank line as a record; returns how many were acknowledged.

    ``key_by``: ``fingerprint-or-none`` keys an event that parses by its flow fingerprint and
    sends the rest unkeyed; ``workload`` keys by ``client.namespace/client.name`` when the
    JSON has them; ``none`` sends everything unkeyed.
    """
    settings = replace(kafka or KafkaSettings(bootstrap=None), bootstrap=bootstrap)
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    try:
        await producer.start()
    except Exception as error:
        await producer.stop()
        problem = kafka_problem(bootstrap, error)
        if problem is None:
            raise
        raise Unreachable(problem) from error
    sent = 0
    pending: list[Awaitable[object]] = []
    try:
        for source in sources:
            with _opened(source) as stream:
                while lines := await asyncio.to_thread(stream.readlines, 1 << 20):
                    for line in lines:
                        value = line.rstrip(b"\r\n")
                        if not value.strip():
                            continue
                        pending.append(await producer.send(topic, value, record_key(value, key_by)))
                        if len(pending) >= IN_FLIGHT:
                            sent += await _settle(pending)
                        if (sent + len(pending)) % progress_every == 0:
                            print(f"produced {sent + len(pending)} records to {topic}",
                                  file=report, flush=True)
        sent += await _settle(pending)
    except KafkaError as error:
        raise Unreachable(f"Kafka at {bootstrap} stopped taking records after {sent}: "
                          f"{cause(error)}") from error
    finally:
        await producer.stop()
    print(f"produced {sent} records to {topic}", file=report, flush=True)
    return sent


def record_key(value: bytes, key_by: KeyBy) -> bytes | None:
    if key_by == "none":
        return None
    if key_by == "fingerprint-or-none":
        try:
            return fingerprint(parse_event(value)).encode()
        except BadEvent:
            return None
    try:
        client = orjson.loads(value).get("client", {})
        namespace, name = client["namespace"], client["name"]
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        return None
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    return f"{namespace}/{name}".encode()


async def _settle(pending: list[Awaitable[object]]) -> int:
    count = len(pending)
    await asyncio.gather(*pending)
    pending.clear()
    return count


@contextmanager
def _opened(source: str | Path) -> Iterator[BinaryIO]:
    if str(source) == "-":
        yield sys.stdin.buffer
        return
    with Path(source).open("rb") as stream:
        yield stream
