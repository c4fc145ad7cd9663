"""Synthetic flow anomalies for the fault tests: a deterministic set of distinct flows spread
over "lanes" (one namespace and one Slack channel each), a seeded stream of events over them,
and a producer that sends the stream to Kafka at a steady rate.

What a correct service must end with follows from the stream alone: one anomaly (and one
card) per flow, and per flow the sum of its events' ``count``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from chatbot.events.fingerprint import fingerprint
from chatbot.events.model import FlowEvent
from chatbot.events.parse import parse_event

APPROVER = "U0OWNER"
PRODUCE_CHUNK_SECONDS = 0.1
SEND_RETRY_SECONDS = 120.0


@dataclass(frozen=True)
class Flow:
    index: int
    lane: str  # the client namespace, and the name of the Slack channel it routes to
    identity: dict[str, Any]  # cluster, client and target: what the fingerprint covers

    def event(self, event_id: str, count: int = 1, observed_at: str = "2026-11-23T10:00:00Z",
              **extra: Any) -> dict[str, Any]:
        return {"schema_version": 1, "event_id": event_id, "observed_at": observed_at,
                **self.identity, "count": count, **extra}

    @cached_property
    def parsed(self) -> FlowEvent:
        return parse_event(orjson.dumps(self.event("probe")))

    @cached_property
    def anomaly_id(self) -> str:
        return fingerprint(self.parsed)


@dataclass(frozen=True)
class FlowSet:
    prefix: str
    lanes: tuple[str, ...]
    flows: tuple[Flow, ...]

    def by_id(self) -> dict[str, Flow]:
        return {flow.anomaly_id: flow for flow in self.flows}

    def rules_yaml(self, *, war_room: bool = False, escalation: str = "") -> str:
        """Each lane routes to its own channel (Slack paces posts per channel), the
        approver may decide everything."""
        routes = "".join(f'  - {{namespaces: ["{lane}"], channel: {lane}}}\n'
                         for lane in self.lanes)
        channels = f"{{default: {self.lanes[0]}" + (", war_room: war-room}" if war_room else "}")
        return (f"channels: {channels}\nroutes:\n{routes}"
                f'approvers:\n  - {{namespaces: ["*"], users: [{APPROVER}]}}\n'
                + (f"escalation: {escalation}\n" if escalation else ""))


def flow_set(prefix: str, *, flows: int, lanes: int) -> FlowSet:
    """``flows`` distinct flows; flow ``i`` lives in lane ``i % lanes``. Targets cycle through
    HTTP calls, plain in-cluster calls, Kafka topics and internet domains."""
    names = tuple(f"{prefix}-{lane:02d}" for lane in range(lanes))
    built = []
    for i in range(flows):
        lane = names[i % lanes]
        target: dict[str, Any]
        if i % 4 == 2:
            target = {"type": "kafka", "name": "kafka", "namespace": lane,
                      "topic": f"orders-{i}", "operation": "produce"}
        elif i % 4 == 3:
            target = {"type": "internet", "domain": f"api-{i}.example.com", "port": 443,
                      "protocol": "TCP"}
        else:
            target = {"type": "kubernetes", "name": f"api-{i}", "namespace": lane,
                      "kind": "Deployment", "port": 8000 + i % 1000, "protocol": "TCP"}
            if i % 4 == 0:
                target["http"] = {"path": f"/v1/items/{i}", "method": "GET"}
        client = {"name": f"svc-{(i // lanes) % 5}", "namespace": lane, "kind": "Deployment"}
        built.append(Flow(i, lane, {"cluster": "bench", "client": client, "target": target}))
    return FlowSet(prefix, names, tuple(built))


@dataclass(frozen=True)
class Event:
    event_id: str
    anomaly_id: str
    count: int
    value: bytes


@dataclass
class Stream:
    events: list[Event]
    sent: int = 0  # how many of ``events`` the producer has had acknowledged
    started: float = field(default_factory=time.monotonic)

    @property
    def counts(self) -> Counter[str]:
        """Per anomaly id, the sum of ``count`` over the events sent so far."""
        totals: Counter[str] = Counter()
        for event in self.events[: self.sent]:
            totals[event.anomaly_id] += event.count
        return totals


def stream(flows: FlowSet, total: int, *, seed: int, run: str,
           new_until: float = 0.7) -> Stream:
    """``total`` events, each with a ``count`` of 1-3 and a unique ``event_id``. New flows
    keep appearing (in a seeded order) until ``new_until`` of the stream has gone by, so
    cards are posted all along; every other event repeats a flow already seen."""
    dice = random.Random(seed)
    order = list(flows.flows)
    dice.shuffle(order)
    introduce_by = max(1.0, new_until * total)
    seen = 0
    events = []
    for k in range(total):
        due = min(len(order), math.ceil(len(order) * (k + 1) / introduce_by))
        if seen < due:
            flow, seen = order[seen], seen + 1
        else:
            flow = order[dice.randrange(seen)]
        count = dice.randint(1, 3)
        minute, second = divmod(k, 60)
        observed = f"2026-11-23T{10 + minute // 60:02d}:{minute % 60:02d}:{second:02d}Z"
        value = orjson.dumps(flow.event(f"{run}-{k}", count, observed))
        events.append(Event(f"{run}-{k}", flow.anomaly_id, count, value))
    return Stream(events)


async def produce(bootstrap: str, topic: str, items: Stream | Sequence[bytes], *,
                  rate: float | None = None) -> None:
    """Send (the rest of) ``items`` at about ``rate`` per second (None: all at once), each
    chunk acknowledged by the broker before the next; survives a broker restart by resending
    the chunk: a record may then land twice, and its event_id makes the copy a no-op)."""
    values = ([event.value for event in items.events[items.sent:]]
              if isinstance(items, Stream) else list(items))
    chunk = max(1, int((rate or len(values) or 1) * PRODUCE_CHUNK_SECONDS))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5,
                                max_request_size=2 * 1024 * 1024, request_timeout_ms=60_000)
    await producer.start()
    try:
        for start in range(0, len(values), chunk):
            began = time.monotonic()
            await _send_chunk(producer, topic, values[start : start + chunk])
            if isinstance(items, Stream):
                items.sent += len(values[start : start + chunk])
            if rate:
                await asyncio.sleep(max(0.0, PRODUCE_CHUNK_SECONDS - (time.monotonic() - began)))
    finally:
        await producer.stop()


async def _send_chunk(producer: AIOKafkaProducer, topic: str, values: Sequence[bytes]) -> None:
    """Send and wait for the acknowledgements, resending the chunk while the broker is away
    (a resent record may land twice; its event_id makes the second a no-op downstream)."""
    deadline = time.monotonic() + SEND_RETRY_SECONDS
    while True:
        try:
            pending = [await producer.send(topic, value) for value in values]
            await asyncio.gather(*pending)
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)
