"""Owner resolution against the bench's real apiserver. No controllers run there, so each test
creates the workload objects and the pods with their ownerReferences itself, as the
Deployment, Job and CronJob controllers would."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.cluster.owners import OwnerResolver
from chatbot.errors import TemporaryError
from chatbot.events.hubble_outcome import Owner, PodRef
from testbench.fixtures.kube import kube_api_client
from testbench.kube import KubeCluster

pytestmark = pytest.mark.bench

TEMPLATE: Any = {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}


class Objects:
    """Creates objects the way their controllers would, ownerReferences included."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)

    async def deployment(self, name: str) -> Any:
        return await self.apps.create_namespaced_deployment(self.namespace, _manifest({
            "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE}}))

    async def stateful_set(self, name: str) -> Any:
        return await self.apps.create_namespaced_stateful_set(self.namespace, _manifest({
            "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "serviceName": name,
                     "template": TEMPLATE}}))

    async def daemon_set(self, name: str) -> Any:
        return await self.apps.create_namespaced_daemon_set(self.namespace, _manifest({
            "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE}}))

    async def cron_job(self, name: str) -> Any:
        return await self.batch.create_namespaced_cron_job(self.namespace, _manifest({
            "metadata": {"name": name},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {
                **TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}}}}}))

    async def replica_set(self, name: str, owner: Any | None, template_hash: str) -> Any:
        labels = {"app": "x", "pod-template-hash": template_hash}
        return await self.apps.create_namespaced_replica_set(self.namespace, _manifest({
            "metadata": {"name": name, "labels": labels, "ownerReferences": _refs(owner)},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {**TEMPLATE, "metadata": {"labels": labels}}}}))

    async def job(self, name: str, owner: Any | None) -> Any:
        return await self.batch.create_namespaced_job(self.namespace, _manifest({
            "metadata": {"name": name, "ownerReferences": _refs(owner)},
            "spec": {"template": {**TEMPLATE, "spec": {**TEMPLATE["spec"],
                                                       "restartPolicy": "Never"}}}}))

    async def pod(self, name: str, owner: Any | None = None, *,
                  labels: dict[str, str] | None = None, owner_ref: dict[str, Any] | None = None
                  ) -> PodRef:
        refs = [owner_ref] if owner_ref else _refs(owner)
        await self.core.create_namespaced_pod(self.namespace, _manifest({
            "metadata": {"name": name, "labels": labels or {"app": "x"},
                         "ownerReferences": refs},
            "spec": TEMPLATE["spec"]}))
        return PodRef(self.namespace, name)


def _manifest(document: dict[str, Any]) -> Any:
    """The typed API takes plain manifests too; they read like the YAML a person writes."""
    return document


def _refs(owner: Any | None) -> list[dict[str, Any]]:
    if owner is None:
        return []
    return [{"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.metadata.name,
             "uid": owner.metadata.uid, "controller": True, "blockOwnerDeletion": True}]


@pytest.fixture
async def objects(kube_admin_client: ApiClient, kube_namespace: str) -> Objects:
    return Objects(kube_admin_client, kube_namespace)


@pytest.fixture
async def resolver(kube_admin_client: ApiClient) -> OwnerResolver:
    return OwnerResolver(kube_admin_client)


async def test_a_deployment_pod_resolves_through_its_replica_set(
        objects: Objects, resolver: OwnerResolver) -> None:
    deployment = await objects.deployment("checkout")
    replica_set = await objects.replica_set("checkout-5d8f7c9b6", deployment, "5d8f7c9b6")
    pod = await objects.pod("checkout-5d8f7c9b6-x2x7k", replica_set)
    assert await resolver.owner(pod) == Owner("checkout", "Deployment")


async def test_stateful_set_and_daemon_set_pods_name_their_controller(
        objects: Objects, resolver: OwnerResolver) -> None:
    ledger = await objects.pod("ledger-0", await objects.stateful_set("ledger"))
    agent = await objects.pod("node-agent-7xk2p", await objects.daemon_set("node-agent"))
    assert await resolver.owners([ledger, agent]) == {
        ledger: Owner("ledger", "StatefulSet"), agent: Owner("node-agent", "DaemonSet")}


async def test_a_cron_job_pod_resolves_through_its_job(
        objects: Objects, resolver: OwnerResolver) -> None:
    cron_job = await objects.cron_job("nightly-report")
    job = await objects.job("nightly-report-29012345", cron_job)
    pod = await objects.pod("nightly-report-29012345-abcde", job)
    one_off = await objects.pod("migrate-abcde", await objects.job("migrate", None))
    assert await resolver.owners([pod, one_off]) == {
        pod: Owner("nightly-report", "CronJob"), one_off: Owner("migrate", "Job")}


async def test_a_bare_pod_is_its_own_workload_and_a_missing_pod_has_no_owner(
        objects: Objects, resolver: OwnerResolver) -> None:
    bare = await objects.pod("debug-shell")
    missing = PodRef(objects.namespace, "gone-7d9f8b6c4-abcde")
    assert await resolver.owners([bare, missing]) == {bare: Owner("debug-shell", "Pod")}


async def test_a_pod_whose_replica_set_is_gone_falls_back_to_the_template_hash(
        objects: Objects, resolver: OwnerResolver) -> None:
    stale = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cart-6c9d8f7b5",
             "uid": "00000000-0000-0000-0000-000000000001", "controller": True}
    pod = await objects.pod("cart-6c9d8f7b5-q8w2e", owner_ref=stale,
                            labels={"app": "x", "pod-template-hash": "6c9d8f7b5"})
    assert await resolver.owner(pod) == Owner("cart", "Deployment")


async def test_answers_are_cached_and_shared_until_their_ttl(
        objects: Objects, kube_admin_client: ApiClient) -> None:
    now = [0.0]
    resolver = OwnerResolver(kube_admin_client, ttl=60.0, clock=lambda: now[0])
    deployment = await objects.deployment("search")
    replica_set = await objects.replica_set("search-7b6c5d4f3", deployment, "7b6c5d4f3")
    pods = [await objects.pod(f"search-7b6c5d4f3-{suffix}", replica_set)
            for suffix in ("aaaaa", "bbbbb", "ccccc")]

    first = await resolver.owners([*pods, *pods])
    assert set(first.values()) == {Owner("search", "Deployment")}
    # Three pods, one ReplicaSet between them: four reads, whatever the repeats.
    assert resolver.lookups == 4
    await resolver.owners(pods)
    assert resolver.lookups == 4
    now[0] = 61.0
    await resolver.owner(pods[0])
    assert resolver.lookups == 6


async def test_a_resolver_without_rbac_raises_a_temporary_error(
        kube_cluster: KubeCluster, objects: Objects) -> None:
    pod = await objects.pod("api-0")
    async with _unprivileged(kube_cluster) as api:
        with pytest.raises(TemporaryError, match="needs get on pods") as raised:
            await OwnerResolver(api).owner(pod)
    assert raised.value.delay > 0


def _unprivileged(kube_cluster: KubeCluster) -> Any:
    return kube_api_client(kube_cluster.user_kubeconfig("nobody"))
