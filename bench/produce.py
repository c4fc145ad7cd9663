"""Fill a topic fast: confluent-kafka's producer (librdkafka batches in its own thread), so
producing a million events takes seconds rather than minutes and never limits a figure."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import KafkaException, Producer


def produce(bootstrap: str, topic: str, values: Iterable[bytes]) -> tuple[int, float]:
    """Send every value (no key), wait until all are acknowledged; (count, seconds)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000,
                         "acks": "all", "enable.idempotence": True})
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    started = time.monotonic()
    count = 0
    for value in values:
        while True:
            try:
                producer.produce(topic, value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        if count % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0 or failures:
        raise KafkaException(f"producing to {topic}: {failures[:3] or 'flush timed out'}")
    return count, time.monotonic() - started
