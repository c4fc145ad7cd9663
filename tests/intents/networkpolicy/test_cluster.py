"""The NetworkPolicy sink against the bench's real apiserver: selectors read from the workloads,
policies created and merged under resourceVersion, conflicts retried, other people's policies
untouched, and what the apiserver stored still meaning the approved flow in cyclonus's reading."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.errors import PermanentError, TemporaryError
from chatbot.events.model import KafkaTarget, KubernetesTarget, Workload
from chatbot.intents.kubernetes import kubernetes_sink
from chatbot.intents.networkpolicy.cluster import NetworkPolicySink
from chatbot.intents.networkpolicy.impact import ObservedFlow
from chatbot.intents.networkpolicy.policy import GROUP, PLURAL, VERSION, approvals
from chatbot.intents.sink import Applied
from testbench.cyclonus import Cyclonus, Traffic, pod
from testbench.kube import KubeCluster
from tests.intents.networkpolicy.flows import note
from tests.intents.networkpolicy.workloads import create, namespace, service

pytestmark = pytest.mark.bench


@pytest.fixture
async def sink(kube_cluster: KubeCluster) -> AsyncIterator[NetworkPolicySink]:
    admin = NetworkPolicySink((await kubernetes_sink(kube_cluster.admin_kubeconfig)).api_client)
    try:
        yield admin
    finally:
        await admin.close()


@pytest.fixture
async def shop(kube_admin_client: ApiClient) -> Workload:
    """checkout, a Deployment in a namespace of its own."""
    return await create(kube_admin_client, "Deployment", await namespace(kube_admin_client),
                        "checkout", {"app": "checkout", "tier": "web"})


@pytest.fixture
async def billing(kube_admin_client: ApiClient) -> str:
    """A namespace with the payments Deployment and its Service (80 -> 8080, 9000 -> grpc)."""
    name = await namespace(kube_admin_client)
    await create(kube_admin_client, "Deployment", name, "payments",
                 {"app": "payments", "tier": "api"})
    await service(kube_admin_client, name, "payments", "payments", [
        {"name": "web", "port": 80, "targetPort": 8080},
        {"name": "grpc", "port": 9000, "targetPort": "grpc"}])
    return name


def payments(billing: str, port: int = 8080, kind: str | None = "Deployment") -> KubernetesTarget:
    return KubernetesTarget(name="payments", namespace=billing, kind=kind, port=port,
                            protocol="TCP")


async def stored(api_client: ApiClient, namespace: str) -> dict[str, dict[str, Any]]:
    listed = await client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL)
    return {item["metadata"]["name"]: item for item in listed["items"]}


async def test_an_approval_writes_the_servers_ingress_and_the_clients_egress(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, shop: Workload, billing: str,
        cyclonus: Cyclonus) -> None:
    applied = await sink.apply(client=shop, target=payments(billing), note=note("a-1"))

    [egress] = (await stored(kube_admin_client, shop.namespace)).values()
    [ingress] = (await stored(kube_admin_client, billing)).values()
    assert applied.changed
    assert applied.object_ref == (f"NetworkPolicy {shop.namespace}/checkout-deployment-egress, "
                                  f"NetworkPolicy {billing}/payments-deployment-ingress")
    assert ingress["spec"]["podSelector"] == {"matchLabels": {"app": "payments"}}
    assert ingress["spec"]["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": shop.namespace}},
                  "podSelector": {"matchLabels": {"app": "checkout"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}]}]
    assert egress["spec"]["podSelector"] == {"matchLabels": {"app": "checkout"}}
    assert [approval["anomaly"] for approval in approvals(ingress)] == ["a-1"]
    # What the apiserver stored, defaults and all, means what the card says.
    checkout_pod = pod(shop.namespace, {"app": "checkout", "tier": "web"}, "10.1.0.10")
    payments_pod = pod(billing, {"app": "payments", "tier": "api"}, "10.2.0.20")
    allowed, other_port = cyclonus.query([egress, ingress], [
        Traffic(checkout_pod, payments_pod, 8080), Traffic(checkout_pod, payments_pod, 8443)])
    assert allowed.ingress.allowed_by_policy and allowed.egress.allowed_by_policy
    assert not other_port.ingress.allowed and not other_port.egress.allowed


async def test_the_next_approval_merges_under_the_resource_version_and_a_repeat_changes_nothing(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, shop: Workload,
        billing: str) -> None:
    fraud = await create(kube_admin_client, "Deployment", billing, "fraud", {"app": "fraud"})
    await sink.apply(client=shop, target=payments(billing), note=note("a-1"))
    first = (await stored(kube_admin_client, billing))["payments-deployment-ingress"]

    merged = await sink.apply(client=fraud, target=payments(billing), note=note("a-2"))
    again = await sink.apply(client=fraud, target=payments(billing), note=note("a-3"))

    now = (await stored(kube_admin_client, billing))["payments-deployment-ingress"]
    assert merged.changed and not again.changed
    assert int(now["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert [rule["from"][0]["podSelector"] for rule in now["spec"]["ingress"]] == [
        {"matchLabels": {"app": "checkout"}}, {"matchLabels": {"app": "fraud"}}]
    assert [approval["anomaly"] for approval in approvals(now)] == ["a-1", "a-2"]
    assert again.document["items"][1]["metadata"]["resourceVersion"] == (
        now["metadata"]["resourceVersion"])


async def test_concurrent_approvals_to_one_server_all_land_in_its_one_policy(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, billing: str) -> None:
    """Writers that read the same state collide (409 AlreadyExists or Conflict); each re-reads,
    merges again and retries."""
    clients = [await create(kube_admin_client, "Deployment", billing, f"worker-{n}",
                            {"app": f"worker-{n}"}) for n in range(5)]

    results = await asyncio.gather(*(
        sink.apply(client=worker, target=payments(billing), note=note(f"a-{n}"))
        for n, worker in enumerate(clients)), return_exceptions=True)

    policies = await stored(kube_admin_client, billing)
    rules = policies["payments-deployment-ingress"]["spec"]["ingress"]
    assert all(isinstance(result, Applied) and result.changed for result in results)
    assert sorted(rule["from"][0]["podSelector"]["matchLabels"]["app"] for rule in rules) == [
        f"worker-{n}" for n in range(5)]


async def test_without_conflict_retries_the_precondition_turns_writers_away(
        kube_cluster: KubeCluster, kube_admin_client: ApiClient, billing: str) -> None:
    impatient = NetworkPolicySink(
        (await kubernetes_sink(kube_cluster.admin_kubeconfig)).api_client, conflict_retries=0)
    clients = [await create(kube_admin_client, "Deployment", billing, f"batch-{n}",
                            {"app": f"batch-{n}"}) for n in range(5)]
    try:
        results = await asyncio.gather(*(
            impatient.apply(client=worker, target=payments(billing), note=note(f"a-{n}"))
            for n, worker in enumerate(clients)), return_exceptions=True)
    finally:
        await impatient.close()

    failures = [result for result in results if isinstance(result, BaseException)]
    assert failures
    assert all(isinstance(failure, TemporaryError) and "kept changing" in str(failure)
               for failure in failures)


async def test_someone_elses_policies_are_never_changed(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, shop: Workload,
        billing: str) -> None:
    objects = client.CustomObjectsApi(kube_admin_client)
    squatter = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "payments-deployment-ingress"},
                "spec": {"podSelector": {"matchLabels": {"app": "payments"}},
                         "policyTypes": ["Ingress"]}}
    neighbour = copy.deepcopy(squatter) | {"metadata": {"name": "payments-from-monitoring"}}
    for policy in (squatter, neighbour):
        await objects.create_namespaced_custom_object(GROUP, VERSION, billing, PLURAL, policy)
    before = await stored(kube_admin_client, billing)

    with pytest.raises(PermanentError, match="was not written by flow-approval-chatbot"):
        await sink.apply(client=shop, target=payments(billing), note=note())

    after = await stored(kube_admin_client, billing)
    assert {name: policy["metadata"]["resourceVersion"] for name, policy in after.items()} == {
        name: policy["metadata"]["resourceVersion"] for name, policy in before.items()}


@pytest.mark.parametrize(("flow_port", "written_port"), [(80, 8080), (9000, "grpc")])
async def test_a_service_target_writes_its_selector_and_target_port(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, shop: Workload, billing: str,
        flow_port: int, written_port: int | str) -> None:
    await sink.apply(client=shop, target=payments(billing, flow_port, kind="Service"),
                     note=note())

    ingress = (await stored(kube_admin_client, billing))["payments-service-ingress"]
    egress = (await stored(kube_admin_client, shop.namespace))["checkout-deployment-egress"]
    assert ingress["spec"]["podSelector"] == {"matchLabels": {"app": "payments"}}
    assert ingress["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": written_port}]
    assert egress["spec"]["egress"][1]["ports"] == [{"protocol": "TCP", "port": written_port}]


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"])
async def test_every_workload_kind_gives_its_pod_selector(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, shop: Workload, billing: str,
        kind: str) -> None:
    await create(kube_admin_client, kind, billing, "ledger", {"app": "ledger", "tier": "db"})
    target = KubernetesTarget(name="ledger", namespace=billing, kind=kind, port=5432,
                              protocol="TCP")

    await sink.apply(client=shop, target=target, note=note())

    ingress = (await stored(kube_admin_client, billing))[f"ledger-{kind.lower()}-ingress"]
    labels = ingress["spec"]["podSelector"]["matchLabels"]
    if kind == "Job":  # the apiserver chose the Job's selector: its controller-uid
        assert list(labels) == ["batch.kubernetes.io/controller-uid"]
    elif kind == "Pod":
        assert labels == {"app": "ledger", "tier": "db"}
    else:
        assert labels == {"app": "ledger"}


async def test_a_kafka_target_opens_the_brokers_port_and_an_unnamed_kind_is_looked_up(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, shop: Workload) -> None:
    infra = await namespace(kube_admin_client)
    await create(kube_admin_client, "StatefulSet", infra, "kafka", {"app": "kafka"})

    await sink.apply(client=shop, target=KafkaTarget(name="kafka", namespace=infra,
                                                     topic="orders", operation="produce"),
                     note=note())

    ingress = (await stored(kube_admin_client, infra))["kafka-statefulset-ingress"]
    assert ingress["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9092}]


async def test_a_workload_that_is_not_there_is_refused_by_name(
        sink: NetworkPolicySink, shop: Workload, billing: str) -> None:
    with pytest.raises(PermanentError, match=f"there is no StatefulSet {billing}/payments in "
                                             "the cluster"):
        await sink.apply(client=shop, target=payments(billing, kind="StatefulSet"), note=note())


async def test_the_preview_reads_the_policies_there_are_now(
        sink: NetworkPolicySink, kube_admin_client: ApiClient, shop: Workload,
        billing: str) -> None:
    fraud = await create(kube_admin_client, "Deployment", billing, "fraud", {"app": "fraud"})
    fraud_flow = ObservedFlow(fraud, payments(billing))

    before = await sink.preview(client=shop, target=payments(billing), observed=[fraud_flow])
    await sink.apply(client=shop, target=payments(billing), note=note())
    after = await sink.preview(client=fraud, target=payments(billing), observed=[fraud_flow])

    assert before.isolates_server and before.cut_clients == (fraud_flow,)
    assert not after.isolates_server and not after.cut_clients
