"""Stories: Hubble records encoded by Cilium's types go through real Kafka, then the intake
with a real apiserver behind owner resolution and the coverage watcher. Each story ends where
the pipeline takes over: an event for the store, a covered flow, a counted skip, a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.cluster.owners import OwnerResolver
from chatbot.events.hubble import HubbleOptions
from chatbot.events.hubble_dedup import ConnectionDedup
from chatbot.events.hubble_outcome import Skip, SkipReason
from chatbot.events.model import FlowEvent, KubernetesTarget, Reason, Workload
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.document import GROUP, VERSION
from chatbot.intents.kubernetes import PLURAL
from chatbot.intents.watch import IntentsWatcher
from chatbot.sensors.hubble_intake import Bad, Covered, HubbleIntake, IntakeBatch
from testbench.hubble_flows import Format, hubble_lines
from testbench.kafka import KafkaBroker
from tests.cluster.objects import Objects

pytestmark = [pytest.mark.bench, pytest.mark.usefixtures("clientintents_crd")]


class Bench:
    """The generator's records through a real topic into the intake."""

    def __init__(self, *, generator: Path, broker: KafkaBroker, topic: str,
                 intake: HubbleIntake, index: CoverageIndex, namespace: str) -> None:
        self.generator, self.broker, self.topic = generator, broker, topic
        self.intake, self.index, self.namespace = intake, index, namespace
        self.intents_changed = asyncio.Event()
        self._offset = 0

    async def on_change(self, ref: IntentRef, document: dict[str, Any] | None) -> None:
        self.intents_changed.set()

    def cart(self, **extra: Any) -> dict[str, Any]:
        return {"ns": self.namespace, "pod": "cart-5d8f7c9b6-x2x7k", "labels": {"app": "cart"},
                "workload": {"name": "cart", "kind": "Deployment"}, **extra}

    def ledger(self, **extra: Any) -> dict[str, Any]:
        return {"ns": self.namespace, "pod": "ledger-0", "labels": {"app": "ledger"},
                "workload": {"name": "ledger", "kind": "StatefulSet"}, "remote": False,
                **extra}

    async def send(self, specs: list[dict[str, Any]], fmt: Format = Format.EXPORTER,
                   raw: tuple[bytes, ...] = ()) -> IntakeBatch:
        lines = [*hubble_lines(specs, format=fmt, binary=self.generator), *raw]
        producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap)
        await producer.start()
        try:
            for line in lines:
                await producer.send_and_wait(self.topic, line)
        finally:
            await producer.stop()
        values = await self._consume(len(lines))
        assert values == lines  # the bytes a shipper sends are the bytes the intake reads
        return await self.intake.read(values)

    async def _consume(self, count: int) -> list[bytes]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.broker.bootstrap,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            consumer.seek(partition, self._offset)
            values: list[bytes] = []
            while len(values) < count:
                batch = await consumer.getmany(partition, timeout_ms=10_000)
                if not batch:
                    break
                values += [record.value for record in batch.get(partition, [])]
            self._offset += len(values)
            return values
        finally:
            await consumer.stop()


@contextlib.asynccontextmanager
async def watching(api: ApiClient, bench: Bench) -> AsyncIterator[None]:
    watcher = IntentsWatcher(api, index=bench.index, namespace=bench.namespace,
                             on_change=bench.on_change)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.synced.wait(), 10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def bench(hubble_generator: Path, kafka_broker: KafkaBroker, kafka_topic: str,
                kube_admin_client: ApiClient, kube_namespace: str) -> AsyncIterator[Bench]:
    index = CoverageIndex()
    intake = HubbleIntake(options=HubbleOptions(), dedup=ConnectionDedup(),
                          owners=OwnerResolver(kube_admin_client), coverage=index)
    bench = Bench(generator=hubble_generator, broker=kafka_broker, topic=kafka_topic,
                  intake=intake, index=index, namespace=kube_namespace)
    async with watching(kube_admin_client, bench):
        yield bench


def only_event(batch: IntakeBatch) -> FlowEvent:
    (event,) = batch.events
    return event


async def test_an_uncovered_flow_is_an_event_and_once_an_intent_covers_it_only_a_count(
        bench: Bench, kube_admin_client: ApiClient) -> None:
    flow = {"src": bench.cart(), "dst": bench.ledger(), "dport": 9090}
    event = only_event(await bench.send([flow]))
    assert event.reason is Reason.NO_INTENT
    assert event.client == Workload("cart", bench.namespace, "Deployment")
    assert event.target == KubernetesTarget("ledger", bench.namespace, "StatefulSet", 9090,
                                            "TCP")

    await client.CustomObjectsApi(kube_admin_client).create_namespaced_custom_object(
        GROUP, VERSION, bench.namespace, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "ClientIntents",
            "metadata": {"name": "cart"},
            "spec": {"workload": {"name": "cart", "kind": "Deployment"},
                     "targets": [{"kubernetes": {"name": "ledger", "kind": "StatefulSet"}}]}})
    await asyncio.wait_for(bench.intents_changed.wait(), 10)  # the watcher's own task

    later = {**flow, "sport": 51000, "time": "2026-03-01T12:05:00Z"}  # a new connection
    batch = await bench.send([later])
    (covered,) = batch.outcomes
    assert isinstance(covered, Covered) and covered.by == IntentRef(bench.namespace, "cart")
    assert covered.event.target == event.target
    assert batch.covered == 1 and batch.events == []


async def test_policy_drops_and_audits_say_so(bench: Bench) -> None:
    dropped = {"src": bench.cart(), "dst": bench.ledger(), "dport": 9090,
               "verdict": "DROPPED", "drop_reason": "POLICY_DENIED"}
    audited = {"src": bench.cart(), "dst": bench.ledger(), "dport": 9443, "verdict": "AUDIT"}
    batch = await bench.send([dropped, audited], fmt=Format.OBSERVE_JSON)
    assert [event.reason for event in batch.events] == [Reason.DENIED_BY_POLICY,
                                                        Reason.WOULD_BE_DENIED]


async def test_reply_and_host_flows_are_skipped_and_counted(bench: Bench) -> None:
    reply = {"src": bench.ledger(), "dst": bench.cart(remote=True), "sport": 9090,
             "dport": 40000, "reply": True}
    from_host = {"src": {"reserved": "host"}, "dst": bench.ledger(), "dport": 9090,
                 "direction": "INGRESS"}
    batch = await bench.send([reply, from_host], fmt=Format.OBSERVE_JSON_LEGACY)
    assert batch.outcomes == [Skip(SkipReason.REPLY), Skip(SkipReason.SOURCE_HOST)]
    assert batch.skipped == {SkipReason.REPLY: 1, SkipReason.SOURCE_HOST: 1}


async def test_one_connection_seen_at_both_nodes_is_one_event_with_owners_from_the_apiserver(
        bench: Bench, kube_admin_client: ApiClient) -> None:
    objects = Objects(kube_admin_client, bench.namespace)
    deployment = await objects.deployment("cart")
    replica_set = await objects.replica_set("cart-5d8f7c9b6", deployment, "5d8f7c9b6")
    await objects.pod("cart-5d8f7c9b6-x2x7k", replica_set)
    await objects.pod("ledger-0", await objects.stateful_set("ledger"))
    connection = {"dport": 9090, "sport": 45678}
    # At the client's node the server is remote (no workloads); at the server's, the client.
    at_client = {"src": bench.cart(), "dst": bench.ledger(remote=True), "node": "worker-a",
                 **connection}
    at_server = {"src": bench.cart(), "dst": bench.ledger(), "node": "worker-b",
                 "direction": "INGRESS", **connection}
    no_workloads = {"src": bench.cart(workload=None), "dst": bench.ledger(remote=True),
                    "dport": 8443}
    batch = await bench.send([at_client, at_server, no_workloads])
    assert batch.skipped == {SkipReason.DUPLICATE: 1}
    first, resolved = batch.events
    assert first.target == KubernetesTarget("ledger", bench.namespace, "StatefulSet", 9090,
                                            "TCP")
    assert resolved.client == Workload("cart", bench.namespace, "Deployment")
    assert resolved.client.labels == {"app": "cart"}
    assert resolved.target == KubernetesTarget("ledger", bench.namespace, "StatefulSet", 8443,
                                               "TCP")


async def test_a_sighting_whose_pod_is_gone_does_not_hide_the_next_one(
        bench: Bench, kube_admin_client: ApiClient) -> None:
    """At the client's node the target is remote and named by pod only; that pod is gone
    (no owner). The server's node names the workload: that sighting still makes the event."""
    objects = Objects(kube_admin_client, bench.namespace)
    replica_set = await objects.replica_set("cart-5d8f7c9b6", await objects.deployment("cart"),
                                            "5d8f7c9b6")
    await objects.pod("cart-5d8f7c9b6-x2x7k", replica_set)
    connection = {"dport": 9090, "sport": 45679}
    at_client = {"src": bench.cart(), "dst": bench.ledger(remote=True, pod="ledger-gone-0",
                                                          workload=None),
                 "node": "worker-a", **connection}
    at_server = {"src": bench.cart(), "dst": bench.ledger(), "node": "worker-b",
                 "direction": "INGRESS", **connection}
    batch = await bench.send([at_client, at_server])
    assert batch.skipped == {SkipReason.OWNER_UNKNOWN: 1}
    assert only_event(batch).target == KubernetesTarget("ledger", bench.namespace,
                                                        "StatefulSet", 9090, "TCP")


async def test_hostile_records_are_dead_letters_and_the_rest_of_the_batch_goes_on(
        bench: Bench) -> None:
    good = {"src": bench.cart(), "dst": bench.ledger(), "dport": 9090}
    huge = {"src": bench.cart(raw_labels=[f"k8s:l{n}=v" for n in range(400)]),
            "dst": bench.ledger(), "dport": 9091}
    not_a_name = {"src": bench.cart(pod="<!channel>"), "dst": bench.ledger(), "dport": 9092}
    truncated = hubble_lines([good], binary=bench.generator)[0][:150]
    batch = await bench.send([huge, not_a_name, good],
                             raw=(truncated, b'{"flow": {"time": 5}}', b"\x00\xff"))
    kinds = [type(outcome).__name__ for outcome in batch.outcomes]
    assert kinds == ["Bad", "Bad", "FlowEvent", "Bad", "Bad", "Bad"]
    reasons = [outcome.reason for outcome in batch.outcomes if isinstance(outcome, Bad)]
    assert "over 256" in reasons[0] and "not a DNS-1123 name" in reasons[1]
    assert "malformed JSON" in reasons[2] and "RFC 3339" in reasons[3]
    assert batch.bad == 5
