"""The GitOps variant: the same NetworkPolicies the cluster sink writes, as one YAML file per
policy, which the apiserver accepts as they are; merged and left alone like the cluster's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.errors import PermanentError, TemporaryError
from chatbot.events.model import KubernetesTarget, Workload
from chatbot.intents.kubernetes import kubernetes_sink
from chatbot.intents.networkpolicy.cluster import NetworkPolicySink
from chatbot.intents.networkpolicy.directory import NetworkPolicyDirectorySink
from chatbot.intents.networkpolicy.policy import GROUP, PLURAL, VERSION, approvals
from testbench.kube import KubeCluster
from tests.intents.networkpolicy.flows import note
from tests.intents.networkpolicy.workloads import create, namespace

pytestmark = pytest.mark.bench

KEPT = ("name", "namespace", "labels", "annotations")


@pytest.fixture
async def files(kube_cluster: KubeCluster, tmp_path: Path
                ) -> AsyncIterator[NetworkPolicyDirectorySink]:
    api_client = (await kubernetes_sink(kube_cluster.admin_kubeconfig)).api_client
    sink = NetworkPolicyDirectorySink(tmp_path / "policies", api_client)
    try:
        yield sink
    finally:
        await sink.close()


@pytest.fixture
async def flow(kube_admin_client: ApiClient) -> tuple[Workload, KubernetesTarget]:
    shop, billing = await namespace(kube_admin_client, "shop"), await namespace(
        kube_admin_client, "billing")
    checkout = await create(kube_admin_client, "Deployment", shop, "checkout", {"app": "checkout"})
    await create(kube_admin_client, "Deployment", billing, "payments", {"app": "payments"})
    return checkout, KubernetesTarget(name="payments", namespace=billing, kind="Deployment",
                                      port=8080, protocol="TCP")


def read(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def as_written(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy without what the apiserver adds (uid, resourceVersion, managedFields, …)."""
    metadata = {key: value for key, value in policy["metadata"].items() if key in KEPT}
    return {"apiVersion": policy["apiVersion"], "kind": policy["kind"], "metadata": metadata,
            "spec": policy["spec"]}


async def test_the_files_hold_the_policies_the_cluster_sink_writes(
        files: NetworkPolicyDirectorySink, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient, flow: tuple[Workload, KubernetesTarget],
        tmp_path: Path) -> None:
    checkout, payments = flow
    applied = await files.apply(client=checkout, target=payments, note=note("a-1"))
    cluster = NetworkPolicySink((await kubernetes_sink(kube_cluster.admin_kubeconfig)).api_client)
    try:
        await cluster.apply(client=checkout, target=payments, note=note("a-1"))
    finally:
        await cluster.close()

    egress_file = tmp_path / "policies" / f"checkout-deployment-egress.{checkout.namespace}.yaml"
    ingress_file = tmp_path / "policies" / f"payments-deployment-ingress.{payments.namespace}.yaml"
    assert applied.changed
    assert applied.object_ref == f"{egress_file}, {ingress_file}"
    assert sorted(path.name for path in (tmp_path / "policies").iterdir()) == sorted(
        [egress_file.name, ingress_file.name])
    objects = client.CustomObjectsApi(kube_admin_client)
    for file, where in ((egress_file, checkout.namespace), (ingress_file, payments.namespace)):
        document = read(file)
        stored = await objects.get_namespaced_custom_object(
            GROUP, VERSION, where, PLURAL, document["metadata"]["name"])
        assert document == as_written(stored)


async def test_a_gitops_tool_can_apply_the_files_as_they_are(
        files: NetworkPolicyDirectorySink, kube_admin_client: ApiClient,
        flow: tuple[Workload, KubernetesTarget], tmp_path: Path) -> None:
    checkout, payments = flow
    await files.apply(client=checkout, target=payments, note=note())

    objects = client.CustomObjectsApi(kube_admin_client)
    for file in sorted((tmp_path / "policies").iterdir()):
        document = read(file)
        accepted = await objects.create_namespaced_custom_object(
            GROUP, VERSION, document["metadata"]["namespace"], PLURAL, document, dry_run="All")
        assert accepted["spec"] == document["spec"]


async def test_the_next_approval_joins_the_file_and_a_repeat_leaves_it_alone(
        files: NetworkPolicyDirectorySink, kube_admin_client: ApiClient,
        flow: tuple[Workload, KubernetesTarget], tmp_path: Path) -> None:
    checkout, payments = flow
    fraud = await create(kube_admin_client, "Deployment", payments.namespace, "fraud",
                         {"app": "fraud"})
    await files.apply(client=checkout, target=payments, note=note("a-1"))
    await files.apply(client=fraud, target=payments, note=note("a-2"))
    ingress_file = tmp_path / "policies" / f"payments-deployment-ingress.{payments.namespace}.yaml"
    text = ingress_file.read_text()

    again = await files.apply(client=fraud, target=payments, note=note("a-3"))

    assert not again.changed
    assert ingress_file.read_text() == text
    assert [entry["anomaly"] for entry in approvals(read(ingress_file))] == ["a-1", "a-2"]


async def test_a_file_that_is_not_ours_or_not_a_policy_is_left_alone(
        files: NetworkPolicyDirectorySink, flow: tuple[Workload, KubernetesTarget],
        tmp_path: Path) -> None:
    checkout, payments = flow
    directory = tmp_path / "policies"
    directory.mkdir()
    theirs = directory / f"checkout-deployment-egress.{checkout.namespace}.yaml"
    theirs.write_text(yaml.safe_dump({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "checkout-deployment-egress", "namespace": checkout.namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}))
    before = theirs.read_text()

    with pytest.raises(PermanentError, match="was not written by flow-approval-chatbot"):
        await files.apply(client=checkout, target=payments, note=note())
    assert theirs.read_text() == before

    theirs.write_text("kind: ConfigMap\n")
    with pytest.raises(TemporaryError, match="does not hold a NetworkPolicy"):
        await files.apply(client=checkout, target=payments, note=note())
    assert theirs.read_text() == "kind: ConfigMap\n"
