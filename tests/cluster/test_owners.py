"""Owner resolution against the bench's real apiserver. No controllers run there, so each test
creates the workload objects and the pods with their ownerReferences itself, as the
Deployment, Job and CronJob controllers would."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient

from chatbot.cluster.owners import OwnerResolver
from chatbot.errors import TemporaryError
from chatbot.events.hubble_outcome import Owner, PodRef
from testbench.fixtures.kube import kube_api_client
from testbench.kube import KubeCluster
from tests.cluster.objects import Objects

pytestmark = pytest.mark.bench


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
