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
from tests.pipeline.harness import Store, running_pipeline, writes_held
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


async def test_a_restart_resumes_from_the_database_even_when_kafka_never_got_the_offsets(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    """As if the process died after every stored batch, before its commit to Kafka."""
    topic, dlq = await new_topic(), await new_topic()
    await produce(kafka_broker.bootstrap, topic, sightings(40) + sightings(10, flow="cart"))
    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=7, kafka_commits=False) as first:
        await eventually(lambda: _counts_are(store, [10, 40]), what="50 events stored")
    committed, _ = await offsets(kafka_broker.bootstrap, first.group, topic)
    assert committed == {0: None}

    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, group=first.group) as again:
        await produce(kafka_broker.bootstrap, topic, sightings(5, first=40))
        await eventually(lambda: _all_committed(kafka_broker, first.group, topic),
                         what="the restart committed")

    assert sorted((await store.event_counts()).values()) == [10, 45]
    assert again.sample("events_consumed_total") == 5
    assert again.sample("events_redelivered_total") == 0
    assert await store.events_stored() == 55


async def test_a_sensor_retry_within_the_window_is_counted_once_also_across_a_restart(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    """With a window of 8 offsets: a repeat within 8 is dropped, one 16 or more away is a new
    sighting; a new life rebuilds the window from the log before it resumes."""
    topic, dlq = await new_topic(), await new_topic()
    events = sightings(12)  # offsets 0-11
    await produce(kafka_broker.bootstrap, topic, [*events, events[3], *sightings(8, first=12)])
    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, recent_block=8) as first:
        await eventually(lambda: _counts_are(store, [20]), what="21 records, 20 events")
        await eventually(lambda: _all_committed(kafka_broker, first.group, topic),
                         what="offsets committed")
    assert first.sample("events_redelivered_total") == 1

    await produce(kafka_broker.bootstrap, topic, [events[11], events[0]])  # offsets 21, 22
    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, recent_block=8, group=first.group) as again:
        await eventually(lambda: _all_committed(kafka_broker, first.group, topic),
                         what="the restart committed")

    assert again.sample("events_redelivered_total") == 1  # events[11], 10 offsets back
    assert list((await store.event_counts()).values()) == [21]  # events[0], 22 back, counts


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

        await store.execute("ALTER TABLE consumer_offsets RENAME TO consumer_offsets_away")
        await produce(kafka_broker.bootstrap, topic, sightings(50, first=50))
        await eventually(lambda: pipeline.sample("store_failures_total") >= 3,
                         what="three failed attempts")
        assert not pipeline.flow.healthy
        assert "consumer_offsets" in (pipeline.flow.last_error or "")
        committed, _ = await offsets(kafka_broker.bootstrap, pipeline.group, topic)
        assert committed == {0: 50}
        assert list((await store.event_counts()).values()) == [50]

        await store.execute("ALTER TABLE consumer_offsets_away RENAME TO consumer_offsets")
        await eventually(lambda: _all_committed(kafka_broker, pipeline.group, topic),
                         what="all 100 committed after the database is back")
        assert (pipeline.flow.healthy, pipeline.flow.last_error) == (True, None)

    assert list((await store.event_counts()).values()) == [100]
    assert await store.events_stored() == 100
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

    stored = await store.events_stored()
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


@BOTH_DATABASES
async def test_a_rebalance_mid_batch_stores_the_batch_once_and_the_new_owner_resumes_after_it(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    topic, dlq = await new_topic(partitions=3), await new_topic()
    flows = [f"svc-{n}" for n in range(6)]
    await produce(kafka_broker.bootstrap, topic, _spread(flows, 0, 30))

    async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                                store=store, max_records=40) as first:
        await eventually(lambda: _seen_at_least(store, 1), what="the first member storing")
        async with writes_held(store) as release:  # the next batch waits mid-store
            # Produced only now, so however fast the first member is, these wait for the hold.
            await produce(kafka_broker.bootstrap, topic, _spread(flows, 30, 300))
            await asyncio.sleep(0.5)
            async with running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic,
                                        dlq_topic=dlq, store=store, group=first.group,
                                        max_records=40) as second:
                await asyncio.sleep(2)
                assert await store.events_stored() < 300
                await release()
                await eventually(lambda: second.flow.partitions, within=60,
                                 what="the second member owning partitions")
                assert len(first.flow.partitions | second.flow.partitions) == 3
                await produce(kafka_broker.bootstrap, topic, _spread(flows, 300, 600))
                await eventually(lambda: _all_committed(kafka_broker, first.group, topic, 3),
                                 within=60, what="every partition committed")
                assert second.sample("events_consumed_total") > 0

    assert sorted((await store.event_counts()).values()) == [100] * 6
    assert first.sample("events_consumed_total") + second.sample("events_consumed_total") == 600
    assert first.sample("events_redelivered_total") + second.sample(
        "events_redelivered_total") == 0
    assert await store.events_stored() == 600


@BOTH_DATABASES
async def test_two_members_that_both_think_they_own_a_partition_store_each_event_once(
    kafka_broker: KafkaBroker, new_topic: TopicFactory, store: Store
) -> None:
    """A member that lost its partition without noticing (paused past the session timeout)
    and the new owner, simulated by two Kafka groups that share one stored position."""
    topic, dlq = await new_topic(), await new_topic()
    await produce(kafka_broker.bootstrap, topic, sightings(300))

    async with (
        running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                         store=store, max_records=25, offsets_group="shared"),
        running_pipeline(bootstrap=kafka_broker.bootstrap, topic=topic, dlq_topic=dlq,
                         store=store, max_records=25, offsets_group="shared"),
    ):
        await eventually(lambda: _seen_at_least(store, 300), within=60, what="300 stored")
        await asyncio.sleep(1)

    assert list((await store.event_counts()).values()) == [300]
    assert await store.events_stored() == 300


def _spread(flows: list[str], first: int, last: int) -> list[Outgoing]:
    """Events numbered first..last-1 over `flows`, keyed by flow so a flow keeps a partition."""
    return [Outgoing(encoded(edited(kubernetes_event(f"e-{n}"), "client.name", flow)),
                     key=flow.encode())
            for n in range(first, last) for flow in [flows[n % len(flows)]]]


async def _counts_are(store: Store, counts: list[int]) -> bool:
    return sorted((await store.event_counts()).values()) == counts


async def _seen_at_least(store: Store, count: int) -> bool:
    return await store.events_stored() >= count


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
