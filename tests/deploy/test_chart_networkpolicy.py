"""The chart with intents.format=networkpolicy: its ServiceAccount may write NetworkPolicies and
read the pod selectors they need, and nothing more; without that RBAC the NetworkPolicy sink
fails with a refusal a person can act on (what the applier records as apply_failed)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.errors import TemporaryError
from chatbot.events.model import KubernetesTarget, Workload
from chatbot.intents.kubernetes import kubernetes_sink
from chatbot.intents.networkpolicy.cluster import NetworkPolicySink
from chatbot.intents.refusal import FORBIDDEN_DELAY
from chatbot.intents.sink import Applied
from testbench.fixtures.kube import kube_api_client
from testbench.kube import KubeCluster
from tests.deploy.chart import Manifest, container, env_of, of_kind, one, render, template
from tests.deploy.cluster import apply
from tests.intents.networkpolicy.flows import note
from tests.intents.networkpolicy.workloads import create, namespace

pytestmark = pytest.mark.bench

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
NETWORKPOLICY = {"intents.format": "networkpolicy"}
NETWORKPOLICY_RULES = [
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
     "verbs": ["get", "list", "watch", "create", "update", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets",
                                          "replicasets"], "verbs": ["get"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get"]},
]
GRANT_TIMEOUT = 10.0


def test_the_networkpolicy_format_grants_networkpolicies_and_selector_reads_only(
        helm_binary: Path) -> None:
    manifests = render(helm_binary, sets=NETWORKPOLICY)
    scoped = render(helm_binary, sets={**NETWORKPOLICY, "rbac.scope": "namespaces",
                                       "rbac.namespaces": "{shop,billing}"})

    assert one(manifests, "ClusterRole")["rules"] == NETWORKPOLICY_RULES
    assert all(role["rules"] == NETWORKPOLICY_RULES for role in of_kind(scoped, "Role"))
    env = env_of(container(one(manifests, "Deployment")))
    assert env["CHATBOT_INTENTS_FORMAT"]["value"] == "networkpolicy"
    default_env = env_of(container(one(render(helm_binary), "Deployment")))
    assert default_env["CHATBOT_INTENTS_FORMAT"]["value"] == "clientintents"


def test_an_unknown_format_is_refused_with_a_reason(helm_binary: Path) -> None:
    run = template(helm_binary, sets={"intents.format": "ciliumnetworkpolicy"})
    assert run.returncode != 0
    assert "intents.format must be clientintents or networkpolicy" in run.output, run.output


async def test_the_chart_account_approves_as_networkpolicies_and_may_do_nothing_else(
        helm_binary: Path, kube_cluster: KubeCluster, kube_admin_client: ApiClient,
        kube_namespace: str) -> None:
    kubeconfig = await install_rbac(helm_binary, kube_cluster, kube_admin_client, kube_namespace,
                                    sets=NETWORKPOLICY)
    shop, billing = await flow_namespaces(kube_admin_client)
    checkout = Workload("checkout", shop, "Deployment")
    sink = NetworkPolicySink((await kubernetes_sink(kubeconfig)).api_client)
    try:
        created = await apply_once_authorized(sink, checkout, payments(billing, 8080))
        merged = await sink.apply(client=checkout, target=payments(billing, 9090),
                                  note=note("a-2"))
    finally:
        await sink.close()

    assert created.changed and merged.changed
    async with kube_api_client(kubeconfig) as bot:
        core, apps = client.CoreV1Api(bot), client.AppsV1Api(bot)
        networking = client.NetworkingV1Api(bot)
        objects = client.CustomObjectsApi(bot)
        assert await forbidden(core.list_namespaced_secret(shop))
        assert await forbidden(core.list_namespaced_pod(shop))
        assert await forbidden(apps.list_namespaced_deployment(shop))
        assert await forbidden(apps.patch_namespaced_deployment(
            "checkout", shop, {"metadata": {"labels": {"x": "y"}}}))
        assert await forbidden(networking.delete_namespaced_network_policy(
            "payments-deployment-ingress", billing))
        assert await forbidden(objects.list_namespaced_custom_object(
            "k8s.otterize.com", "v2beta1", shop, "clientintents"))


async def test_without_networkpolicy_rbac_the_sink_fails_readably(
        helm_binary: Path, kube_cluster: KubeCluster, kube_admin_client: ApiClient,
        kube_namespace: str) -> None:
    """The chart installed for ClientIntents while the bot runs with the NetworkPolicy format."""
    kubeconfig = await install_rbac(helm_binary, kube_cluster, kube_admin_client, kube_namespace,
                                    sets={})
    shop, billing = await flow_namespaces(kube_admin_client)
    sink = NetworkPolicySink((await kubernetes_sink(kubeconfig)).api_client)
    try:
        with pytest.raises(TemporaryError) as refused:
            await sink.apply(client=Workload("checkout", shop, "Deployment"),
                             target=payments(billing, 8080), note=note())
    finally:
        await sink.close()

    message = str(refused.value)
    assert message.startswith(f"the cluster refused to let the bot read Deployment {shop}/"
                              "checkout: ")
    assert 'deployments.apps "checkout" is forbidden' in message
    assert "intents.format=networkpolicy" in message
    assert refused.value.delay == FORBIDDEN_DELAY  # an RBAC fix is picked up that soon


async def test_reads_alone_are_not_enough_to_write_a_policy(
        kube_cluster: KubeCluster, kube_admin_client: ApiClient, kube_namespace: str) -> None:
    """RBAC that lets the bot read selectors but not networkpolicies."""
    shop, billing = await flow_namespaces(kube_admin_client)
    account = f"reader-{uuid.uuid4().hex[:6]}"
    await bind_cluster_role(kube_admin_client, account, kube_namespace,
                            rules=NETWORKPOLICY_RULES[1:])
    kubeconfig = await asyncio.to_thread(kube_cluster.service_account_kubeconfig,
                                         kube_namespace, account)
    sink = NetworkPolicySink((await kubernetes_sink(kubeconfig)).api_client)
    try:
        async with asyncio.timeout(GRANT_TIMEOUT):
            while True:
                with pytest.raises(TemporaryError) as refused:
                    await sink.apply(client=Workload("checkout", shop, "Deployment"),
                                     target=payments(billing, 8080), note=note())
                if "NetworkPolicy" in str(refused.value):
                    break
                await asyncio.sleep(0.1)  # the grant of the reads is not seen yet
    finally:
        await sink.close()

    message = str(refused.value)
    assert message.startswith(f"the cluster refused to let the bot read NetworkPolicy {shop}/"
                              "checkout-deployment-egress: ")
    assert "networkpolicies.networking.k8s.io" in message and "forbidden" in message


def payments(billing: str, port: int) -> KubernetesTarget:
    return KubernetesTarget(name="payments", namespace=billing, kind="Deployment", port=port,
                            protocol="TCP")


async def flow_namespaces(api_client: ApiClient) -> tuple[str, str]:
    shop, billing = await namespace(api_client, "shop"), await namespace(api_client, "billing")
    await create(api_client, "Deployment", shop, "checkout", {"app": "checkout"})
    await create(api_client, "Deployment", billing, "payments", {"app": "payments"})
    return shop, billing


async def install_rbac(helm_binary: Path, kube_cluster: KubeCluster, api_client: ApiClient,
                       namespace: str, *, sets: dict[str, str]) -> Path:
    """Apply the chart's RBAC objects; a token kubeconfig for its ServiceAccount."""
    manifests: list[Manifest] = await asyncio.to_thread(
        render, helm_binary, release=f"bot-{uuid.uuid4().hex[:8]}", namespace=namespace,
        sets=sets)
    await apply(api_client, [m for m in manifests if m["kind"] in RBAC_KINDS],
                namespace=namespace)
    name = one(manifests, "ServiceAccount")["metadata"]["name"]
    return await asyncio.to_thread(kube_cluster.service_account_kubeconfig, namespace, name)


async def bind_cluster_role(api_client: ApiClient, account: str, namespace: str, *,
                            rules: list[dict[str, Any]]) -> None:
    group = "rbac.authorization.k8s.io"
    await apply(api_client, [
        {"apiVersion": f"{group}/v1", "kind": "ClusterRole", "metadata": {"name": account},
         "rules": rules},
        {"apiVersion": f"{group}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": account},
         "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": account},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]},
    ], namespace=namespace)


async def apply_once_authorized(sink: NetworkPolicySink, workload: Workload,
                                target: KubernetesTarget) -> Applied:
    """The RBAC authorizer reads roles from a watch cache, so a fresh grant takes a moment."""
    async with asyncio.timeout(GRANT_TIMEOUT):
        while True:
            try:
                return await sink.apply(client=workload, target=target, note=note())
            except TemporaryError as exc:
                if "forbidden" not in str(exc):
                    raise
            await asyncio.sleep(0.1)


async def forbidden(call: Any) -> bool:
    try:
        await call
    except ApiException as error:
        return error.status == 403
    return False
