"""``chatbot import-intents``: a network-mapper export becomes new-connection events on the
real Kafka topic, for the targets no approved intent covers only: approved in the real
apiserver, or in the intents directory."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot import cli_import
from chatbot.config.settings import settings_from_env
from chatbot.events.model import HttpCall, KubernetesTarget, Reason
from chatbot.events.parse import parse_event
from chatbot.intents.document import GROUP, VERSION
from chatbot.intents.kubernetes import PLURAL
from testbench.kafka import KafkaBroker
from testbench.kube import KubeCluster

pytestmark = pytest.mark.bench

EXPORT = """\
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata:
  name: checkout
  namespace: {ns}
spec:
  workload:
    name: checkout
    kind: Deployment
  targets:
    - kubernetes:
        name: cart
        kind: Deployment
    - kubernetes:
        name: email
        kind: Deployment
        http:
          - path: /send
            methods:
              - POST
    - kubernetes:
        name: ledger.billing
        kind: StatefulSet"""


def arguments(source: Path, *extra: str) -> argparse.Namespace:
    top = argparse.ArgumentParser()
    cli_import.add_command(top.add_subparsers(dest="command"))
    return top.parse_args(["import-intents", str(source), "--cluster", "prod", *extra])


async def consumed(broker: KafkaBroker, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        values: list[bytes] = []
        while len(values) < count:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            values += [record.value for records in batch.values() for record in records]
        return values
    finally:
        await consumer.stop()


@pytest.mark.usefixtures("clientintents_crd")
async def test_only_targets_the_cluster_has_not_approved_are_sent(
        tmp_path: Path, kafka_broker: KafkaBroker, kafka_topic: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient, kube_namespace: str) -> None:
    ns = kube_namespace
    await client.CustomObjectsApi(kube_admin_client).create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "ClientIntents",
            "metadata": {"name": "checkout-by-hand"},
            "spec": {"workload": {"name": "checkout", "kind": "Deployment"},
                     "targets": [{"kubernetes": {"name": "cart"}},
                                 {"kubernetes": {"name": "ledger.billing"}}]}})
    export = tmp_path / "export.yaml"
    export.write_text(EXPORT.format(ns=ns))
    settings = settings_from_env({"CHATBOT_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
                                  "CHATBOT_KAFKA_TOPIC": kafka_topic,
                                  "CHATBOT_KUBECONFIG": str(kube_cluster.admin_kubeconfig)})

    assert await cli_import.run(arguments(export), settings) == 0
    assert await cli_import.run(arguments(export), settings) == 0  # imported twice

    events = [parse_event(value) for value in await consumed(kafka_broker, kafka_topic, 2)]
    assert {event.event_id for event in events} == {events[0].event_id}
    event = events[0]
    assert (event.cluster, event.client.name, event.client.namespace, event.reason) == (
        "prod", "checkout", ns, Reason.NEW_CONNECTION)
    assert event.target == KubernetesTarget("email", ns, "Deployment", None, None,
                                            HttpCall("/send", "POST"))


async def test_with_the_directory_sink_the_directory_is_what_is_approved(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "checkout.shop.yaml").write_text(
        "apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n"
        "metadata: {name: checkout, namespace: shop}\n"
        "spec: {workload: {name: checkout, kind: Deployment},"
        " targets: [{kubernetes: {name: email}}]}\n")
    export = tmp_path / "export.yaml"
    export.write_text(EXPORT.format(ns="shop") + "\n---\nkind: ClientIntents\nspec: {}\n")
    settings = settings_from_env({"CHATBOT_INTENTS_SINK": f"directory:{intents}"})

    assert await cli_import.run(arguments(export, "--dry-run"), settings) == 1
    output = capsys.readouterr()
    sent = [parse_event(line.encode()) for line in output.out.splitlines()]
    assert [event.target.name for event in sent if isinstance(event.target,
                                                              KubernetesTarget)] == ["cart",
                                                                                     "ledger"]
    assert "1 already approved, 2 sent" in output.err and "has no spec.workload.name" in output.err
    assert orjson.loads(output.out.splitlines()[0])["reason"] == "new-connection"


async def test_an_unreadable_export_is_refused_readably(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export.yaml"
    export.write_text("targets: [unclosed")
    settings = settings_from_env({"CHATBOT_INTENTS_SINK": f"directory:{tmp_path / 'none'}"})
    assert await cli_import.run(arguments(export, "--dry-run"), settings) == 2
    assert "not YAML or JSON" in capsys.readouterr().err
