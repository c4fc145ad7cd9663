"""FlowConsumer stories against the bench's real Kafka broker and a real database: events are
stored once however often they arrive, bad records land on the dead-letter topic unchanged,
and offsets move only after a batch is stored — through database outages, stops and
rebalances."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chatbot.pipeline.dead_letter import AT_HEADER, REASON_HEADER, SOURCE_HEADER
from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from tests.events.samples import dropped, edited, encoded, kubernetes_event
from tests.pipeline.harness import Store, running_pipeline
from tests.pipeline.kafka_io import Outgoing, eventually, offsets, produce, read_topic

BOTH_DATABASES = pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)


def sightings(count: int, *, first: int = 0, flow: str = "checkout") -> list[Outgoing]:
    """`count` events of one flow, each with its own event id."""
    return [Outgoing(encoded(edited(kubernetes_event(f"{flow}-{n}"), "client.name", flow)))
            for n in range(first, first + count)]


@BOTH_DATABASES
async def test_a_hundred_sightings_of_one_flow_become_one_anomaly_and_all_offsets_commit(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(), await new_topic()
    await produce(kafka_broker.bootstrap, topic, sightings(100))

    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=30) as pipeline:
        await eventually(lambda: _counts_are(store, [100]), what="100 events stored")
        await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                         what="offsets committed")
        assert pipeline.flow.healthy

    assert pipeline.sample("events_consumed_total") == 100
    assert pipeline.sample("anomalies_detected_total") == 1
    assert sum(len(result.new_anomalies) for result in pipeline.stored) == 1
    committed, ends = await offsets(kafka_broker.bootstrap, pipeline.group, topic)
    assert committed == ends == {0: 100}


async def test_an_event_delivered_twice_is_counted_once(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(), await new_topic()
    once, twice = sightings(2)
    await produce(kafka_broker.bootstrap, topic, [once, twice, once])

    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store) as pipeline:
        await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                         what="offsets committed")

    assert list((await store.event_counts()).values()) == [2]
    assert pipeline.sample("events_redelivered_total") == 1


async def test_a_new_group_replaying_the_whole_topic_changes_nothing(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(), await new_topic()
    await produce(kafka_broker.bootstrap, topic, sightings(40) + sightings(10, flow="cart"))
    for _replay in range(2):
        async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic,
                                    dlq_topic=dlq, store=store) as pipeline:
            await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                             what="offsets committed")

    assert sorted((await store.event_counts()).values()) == [10, 40]
    assert pipeline.sample("events_redelivered_total") == 50
    assert pipeline.sample("anomalies_detected_total") == 0


GOOD = kubernetes_event("good-after-bad")
BAD_RECORDS = [
    ("malformed JSON", b'{"schema_version": 1, "event_id": ', "malformed JSON", "malformed_json"),
    ("non-UTF-8 bytes", b'{"event_id": "\xff\xfe"}', "not valid UTF-8", "not_utf8"),
    ("wrong schema_version", encoded(edited(GOOD, "schema_version", 2)),
     "unsupported schema_version 2", "schema_version"),
    ("missing field", encoded(dropped(GOOD, "client")), "missing field 'client'",
     "missing_field"),
    ("invalid Kubernetes name", encoded(edited(GOOD, "client.name", "Checkout_Svc")),
     "field 'client.name' is 'Checkout_Svc', not a DNS-1123 name", "invalid_value"),
    ("oversize value", encoded(edited(GOOD, "client.labels",
                                      {f"l{i}": "v" * 60 for i in range(1200)})),
     "over the 65536-byte limit", "oversize"),
    ("wrong type", encoded(edited(GOOD, "count", "many")),
     "field 'count' must be an integer", "invalid_value"),
    ("wrong type (object)", encoded(edited(GOOD, "target", ["payments"])),
     "field 'target' must be an object", "wrong_type"),
    ("empty value", None, "empty record", "empty"),
]


async def test_each_kind_of_bad_event_is_dead_lettered_unchanged_and_consuming_goes_on(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic, dlq = await new_topic(), await new_topic()
    bad = [Outgoing(value, key=f"key-{n}".encode(), headers=[("trace-id", f"t{n}".encode())])
           for n, (_, value, _, _) in enumerate(BAD_RECORDS)]
    await produce(kafka_broker.bootstrap, topic, [*bad, Outgoing(encoded(GOOD))])

    with caplog.at_level(logging.WARNING, logger="tests.pipeline"):
        async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic,
                                    dlq_topic=dlq, store=store, max_records=4) as pipeline:
            await eventually(lambda: _counts_are(store, [1]), what="the good event stored")
            await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                             what="offsets committed")
            assert pipeline.flow.healthy

    dead = await read_topic(kafka_broker.bootstrap, dlq, len(BAD_RECORDS))
    assert len(dead) == len(BAD_RECORDS)
    by_source = {record.headers[SOURCE_HEADER].decode(): record for record in dead}
    for offset, (name, value, reason, category) in enumerate(BAD_RECORDS):
        record = by_source[f"{topic}/0/{offset}"]
        assert record.value == value, name
        assert record.key == f"key-{offset}".encode(), name
        assert record.headers["trace-id"] == f"t{offset}".encode(), name
        assert reason in record.headers[REASON_HEADER].decode(), name
        assert record.headers[AT_HEADER].decode().endswith("+00:00"), name
        assert pipeline.sample("bad_events_total", reason=category) >= 1, name
    assert sum(len(value or b"") for value in [r.value for r in dead]) > 65536
    logged = [r for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(logged) == len(BAD_RECORDS)
    assert all(len(r.getMessage()) < 400 for r in logged)


@BOTH_DATABASES
async def test_a_database_failure_mid_stream_commits_nothing_and_the_batch_is_retried(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(), await new_topic()
    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=20) as pipeline:
        await produce(kafka_broker.bootstrap, topic, sightings(50))
        await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                         what="the first 50 committed")

        await store.execute("ALTER TABLE seen_events RENAME TO seen_events_away")
        await produce(kafka_broker.bootstrap, topic, sightings(50, first=50))
        await eventually(lambda: pipeline.sample("store_failures_total") >= 3,
                         what="three failed attempts")
        assert not pipeline.flow.healthy
        assert "seen_events" in (pipeline.flow.last_error or "")
        committed, _ = await offsets(kafka_broker.bootstrap, pipeline.group, topic)
        assert committed == {0: 50}
        assert list((await store.event_counts()).values()) == [50]

        await store.execute("ALTER TABLE seen_events_away RENAME TO seen_events")
        await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                         what="all 100 committed after the database is back")
        assert (pipeline.flow.healthy, pipeline.flow.last_error) == (True, None)

    assert list((await store.event_counts()).values()) == [100]
    assert await store.seen_events() == 100
    assert pipeline.sample("events_consumed_total") == 100


async def test_stop_commits_every_batch_it_stored_and_nothing_else(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(), await new_topic()
    await produce(kafka_broker.bootstrap, topic, sightings(3000))

    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=100) as pipeline:
        await eventually(lambda: _seen_at_least(store, 1), what="a first batch stored")
        await pipeline.flow.stop()
        assert pipeline.task.done()
        assert not pipeline.flow.healthy

    stored = await store.seen_events()
    committed, _ = await offsets(kafka_broker.bootstrap, pipeline.group, topic)
    assert committed == {0: stored}
    assert stored > 0


async def test_two_members_of_a_group_share_the_partitions_and_lose_nothing_on_rebalance(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(partitions=3), await new_topic()
    flows = [f"svc-{n}" for n in range(6)]
    await produce(kafka_broker.bootstrap, topic, _spread(flows, 0, 300))

    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=50) as first:
        await eventually(lambda: _seen_at_least(store, 1), what="the first member storing")
        async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic,
                                    dlq_topic=dlq, store=store, group=first.group,
                                    max_records=50) as second:
            await produce(kafka_broker.bootstrap, topic, _spread(flows, 300, 600))
            await eventually(lambda: _all_committed(kafka_broker, first.group, topic, 3),
                             within=60, what="every partition committed")
            assert first.flow.healthy
            assert second.flow.healthy

    assert sorted((await store.event_counts()).values()) == [100] * 6
    consumed = first.sample("events_consumed_total") + second.sample("events_consumed_total")
    redelivered = (first.sample("events_redelivered_total")
                   + second.sample("events_redelivered_total"))
    assert consumed - redelivered == 600


def _spread(flows: list[str], first: int, last: int) -> list[Outgoing]:
    """Events numbered first..last-1 over `flows`, keyed by flow so a flow keeps a partition."""
    return [Outgoing(encoded(edited(kubernetes_event(f"e-{n}"), "client.name", flow)),
                     key=flow.encode())
            for n in range(first, last) for flow in [flows[n % len(flows)]]]


async def _counts_are(store: Store, counts: list[int]) -> bool:
    return sorted((await store.event_counts()).values()) == counts


async def _seen_at_least(store: Store, count: int) -> bool:
    return await store.seen_events() >= count


async def _all_committed(broker: KafkaBroker, group: str, topic: str,
                         partitions: int = 1) -> bool:
    committed, ends = await offsets(broker.bootstrap, group, topic, partitions=partitions)
    return committed == ends


async def test_a_broker_crash_mid_stream_loses_and_doubles_nothing(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(), await new_topic()
    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=20) as pipeline:
        await produce(kafka_broker.bootstrap, topic, sightings(60))
        await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                         what="the first 60 committed")

        await asyncio.to_thread(kafka_broker.restart, crash=True)
        await produce(kafka_broker.bootstrap, topic, [*sightings(60, first=60), Outgoing(b"{")])
        await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                         within=90, what="everything committed after the restart")

    assert list((await store.event_counts()).values()) == [120]
    assert len(await read_topic(kafka_broker.bootstrap, dlq, 1)) == 1
