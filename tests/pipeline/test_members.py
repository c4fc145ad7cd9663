"""``serve --consumers 2``: the service's loop and one member process share the partitions
of the group; every event is stored once and committed, and stopping the service stops
the member after it stored its batch."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatbot.clock import SystemClock
from chatbot.config.settings import settings_from_env
from chatbot.metrics import Metrics
from chatbot.pipeline.wiring import kafka_pipeline
from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from tests.pipeline.harness import RULES, Store
from tests.pipeline.kafka_io import eventually, offsets, produce
from tests.pipeline.test_consumer import _spread


async def test_two_processes_of_one_group_share_the_partitions_and_store_each_event_once(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic, dlq = await new_topic(partitions=3), await new_topic()
    group = f"group-{uuid.uuid4().hex[:8]}"
    for name, value in {"KAFKA_BOOTSTRAP": kafka_broker.bootstrap, "KAFKA_TOPIC": topic,
                        "KAFKA_DLQ_TOPIC": dlq, "KAFKA_GROUP": group,
                        "DATABASE_URL": str(store.engine.url), "LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(f"CHATBOT_{name}", value)
    pipeline = await kafka_pipeline(settings_from_env().kafka, sessions=store.sessions,
                                    rules=RULES, clock=SystemClock(), metrics=Metrics(),
                                    on_stored=lambda _result: None, consumers=2)
    assert pipeline.members is not None
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run(stop))
    try:
        await eventually(lambda: 0 < len(pipeline.consumer.partitions) < 3, within=60,
                         what="the member process taking its share of the partitions")
        flows = [f"svc-{n}" for n in range(6)]
        await produce(kafka_broker.bootstrap, topic, _spread(flows, 0, 600))
        await eventually(lambda: _all_stored(store, 600), within=60, what="600 stored")
        await eventually(lambda: _all_committed(kafka_broker, group, topic), within=30,
                         what="every partition committed")
    finally:
        stop.set()
        await running

    assert sorted((await store.event_counts()).values()) == [100] * 6
    assert pipeline.members.running() == 0


async def _all_stored(store: Store, count: int) -> bool:
    return await store.events_stored() >= count


async def _all_committed(broker: KafkaBroker, group: str, topic: str) -> bool:
    committed, ends = await offsets(broker.bootstrap, group, topic, partitions=3)
    return committed == ends
