"""The chart against the bench's real apiserver: every rendered object is accepted, the chart's
ServiceAccount may write ClientIntents and nothing else, and with a Hubble flows topic the
service's own owner resolver and ClientIntents watcher work under exactly the rules it grants."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.cluster.owners import OwnerResolver
from chatbot.errors import TemporaryError
from chatbot.events.hubble_outcome import Owner
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.watch import IntentsWatcher
from testbench.fixtures.kube import kube_api_client
from testbench.kube import KubeCluster
from tests.cluster.objects import Objects
from tests.deploy.chart import PRODUCTION_VALUES, Manifest, one, render
from tests.deploy.cluster import apply, install_servicemonitor_crd

pytestmark = pytest.mark.bench

GROUP, VERSION, PLURAL = "k8s.otterize.com", "v2beta1", "clientintents"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def release_name() -> str:
    # ClusterRoles are cluster-wide: every test installs its own release.
    return f"bot-{uuid.uuid4().hex[:8]}"


async def new_namespace(api_client: ApiClient) -> str:
    name = f"apps-{uuid.uuid4().hex[:8]}"
    await client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def clientintents(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ClientIntents",
            "metadata": {"name": name},
            "spec": {"workload": {"name": name, "kind": "Deployment"},
                     "targets": [{"kubernetes": {"name": "game-api", "kind": "Deployment"}}]}}


async def forbidden(call: Any) -> bool:
    try:
        await call
    except ApiException as error:
        return error.status == 403
    return False


OWN_ACCESS = {"networkPolicy.enabled": "true", "clientIntents.enabled": "true"}


@pytest.mark.parametrize(("values", "sets"), [((), {}), ((PRODUCTION_VALUES,), {}),
                                              ((PRODUCTION_VALUES,), OWN_ACCESS)],
                         ids=["defaults", "production", "production-own-access"])
async def test_every_rendered_object_is_accepted_by_the_apiserver(
        helm_binary: Path, kube_admin_client: ApiClient, kube_namespace: str, tmp_path: Path,
        values: tuple[Path, ...], sets: dict[str, str], clientintents_crd: str) -> None:
    await install_servicemonitor_crd(kube_admin_client, tmp_path)
    manifests = await asyncio.to_thread(render, helm_binary, release=release_name(),
                                        namespace=kube_namespace, values=values, sets=sets)
    applied = await apply(kube_admin_client, manifests, namespace=kube_namespace)
    assert len(applied) == len(manifests)
    assert any(entry.startswith("Deployment/") for entry in applied)
    if sets:
        assert {entry.split("/")[0] for entry in applied} >= {"NetworkPolicy", "ClientIntents"}


async def test_the_chart_service_account_writes_clientintents_and_nothing_else(
        helm_binary: Path, kube_cluster: KubeCluster, kube_admin_client: ApiClient,
        kube_namespace: str, clientintents_crd: str) -> None:
    manifests = await asyncio.to_thread(render, helm_binary, release=release_name(),
                                        namespace=kube_namespace)
    await apply(kube_admin_client, [m for m in manifests if m["kind"] in RBAC_KINDS],
                namespace=kube_namespace)
    apps = await new_namespace(kube_admin_client)
    kubeconfig = await _chart_service_account(kube_cluster, manifests, kube_namespace)
    async with kube_api_client(kubeconfig) as bot:
        objects = client.CustomObjectsApi(bot)
        await objects.create_namespaced_custom_object(GROUP, VERSION, apps, PLURAL,
                                                      clientintents("web"))
        patched = await objects.patch_namespaced_custom_object(
            GROUP, VERSION, apps, PLURAL, "web", [{
                "op": "add", "path": "/metadata/annotations",
                "value": {"flow-approval/approved-by": "U0OWNER"}}])
        assert patched["metadata"]["annotations"]["flow-approval/approved-by"] == "U0OWNER"
        patched["spec"]["targets"].append({"kubernetes": {"name": "db", "kind": "StatefulSet"}})
        updated = await objects.replace_namespaced_custom_object(  # resourceVersion-checked
            GROUP, VERSION, apps, PLURAL, "web", patched)
        assert len(updated["spec"]["targets"]) == 2
        listed = await objects.list_namespaced_custom_object(GROUP, VERSION, apps, PLURAL)
        assert [item["metadata"]["name"] for item in listed["items"]] == ["web"]

        core, networking = client.CoreV1Api(bot), client.NetworkingV1Api(bot)
        assert await forbidden(core.list_namespaced_secret(apps))
        assert await forbidden(core.read_namespaced_secret("anything", kube_namespace))
        assert await forbidden(core.list_namespaced_pod(apps))
        assert await forbidden(core.read_namespaced_pod("anything", apps))  # no flows topic
        assert await forbidden(networking.create_namespaced_network_policy(
            apps, client.V1NetworkPolicy(
                metadata=client.V1ObjectMeta(name="allow-all"),
                spec=client.V1NetworkPolicySpec(pod_selector=client.V1LabelSelector()))))
        assert await forbidden(objects.delete_namespaced_custom_object(
            GROUP, VERSION, apps, PLURAL, "web"))


async def test_namespace_scoped_rbac_reaches_only_the_listed_namespaces(
        helm_binary: Path, kube_cluster: KubeCluster, kube_admin_client: ApiClient,
        kube_namespace: str, clientintents_crd: str) -> None:
    allowed, other = await new_namespace(kube_admin_client), await new_namespace(kube_admin_client)
    manifests = await asyncio.to_thread(
        render, helm_binary, release=release_name(), namespace=kube_namespace,
        sets={"rbac.scope": "namespaces", "rbac.namespaces": f"{{{allowed}}}"})
    await apply(kube_admin_client, [m for m in manifests if m["kind"] in RBAC_KINDS],
                namespace=kube_namespace)
    kubeconfig = await _chart_service_account(kube_cluster, manifests, kube_namespace)
    async with kube_api_client(kubeconfig) as bot:
        objects = client.CustomObjectsApi(bot)
        await objects.create_namespaced_custom_object(GROUP, VERSION, allowed, PLURAL,
                                                      clientintents("web"))
        assert await forbidden(objects.create_namespaced_custom_object(
            GROUP, VERSION, other, PLURAL, clientintents("web")))


@pytest.mark.parametrize("scope", ["cluster", "namespaces"])
async def test_with_a_flows_topic_the_service_account_finds_owners_and_watches_intents(
        helm_binary: Path, kube_cluster: KubeCluster, kube_admin_client: ApiClient,
        kube_namespace: str, clientintents_crd: str, scope: str) -> None:
    # The pods live in a namespace the writes are NOT scoped to: flows come from anywhere.
    apps, writable = await new_namespace(kube_admin_client), await new_namespace(kube_admin_client)
    sets = {"kafka.flowsTopic": "hubble-flows", "rbac.scope": scope}
    if scope == "namespaces":
        sets["rbac.namespaces"] = f"{{{writable}}}"
    manifests = await asyncio.to_thread(render, helm_binary, release=release_name(),
                                        namespace=kube_namespace, sets=sets)
    await apply(kube_admin_client, [m for m in manifests if m["kind"] in RBAC_KINDS],
                namespace=kube_namespace)
    objects = Objects(kube_admin_client, apps)
    replica_set = await objects.replica_set("web-5d8f7c9b6", await objects.deployment("web"),
                                            "5d8f7c9b6")
    web = await objects.pod("web-5d8f7c9b6-x2x7k", replica_set)
    job = await objects.job("report-29012345", await objects.cron_job("report"))
    report = await objects.pod("report-29012345-abcde", job)
    await client.CustomObjectsApi(kube_admin_client).create_namespaced_custom_object(
        GROUP, VERSION, apps, PLURAL, clientintents("web"))

    kubeconfig = await _chart_service_account(kube_cluster, manifests, kube_namespace)
    async with kube_api_client(kubeconfig) as bot:
        assert await OwnerResolver(bot).owners([web, report]) == {
            web: Owner("web", "Deployment"), report: Owner("report", "CronJob")}
        index = CoverageIndex()
        watcher = IntentsWatcher(bot, index=index, watch_seconds=1)
        version = await watcher.relist()
        assert IntentRef(apps, "web") in index.refs()
        await watcher.watch(version)  # a watch the apiserver ends after 1 s, not a 403

        core = client.CoreV1Api(bot)
        assert await forbidden(core.list_namespaced_pod(apps))
        assert await forbidden(core.list_pod_for_all_namespaces())
        assert await forbidden(core.delete_namespaced_pod(web.pod, apps))
        assert await forbidden(core.read_namespaced_secret("anything", apps))
        assert await forbidden(client.AppsV1Api(bot).read_namespaced_deployment("web", apps))
        if scope == "namespaces":
            assert await forbidden(client.CustomObjectsApi(bot).create_namespaced_custom_object(
                GROUP, VERSION, apps, PLURAL, clientintents("other")))


async def test_without_the_owner_rules_the_resolver_says_what_is_missing(
        helm_binary: Path, kube_cluster: KubeCluster, kube_admin_client: ApiClient,
        kube_namespace: str, clientintents_crd: str) -> None:
    manifests = await asyncio.to_thread(render, helm_binary, release=release_name(),
                                        namespace=kube_namespace)
    await apply(kube_admin_client, [m for m in manifests if m["kind"] in RBAC_KINDS],
                namespace=kube_namespace)
    apps = await new_namespace(kube_admin_client)
    pod = await Objects(kube_admin_client, apps).pod("debug-shell")
    kubeconfig = await _chart_service_account(kube_cluster, manifests, kube_namespace)
    async with kube_api_client(kubeconfig) as bot:
        with pytest.raises(TemporaryError, match="needs get on pods"):
            await OwnerResolver(bot).owner(pod)


async def _chart_service_account(kube_cluster: KubeCluster, manifests: list[Manifest],
                                 namespace: str) -> Path:
    """A token kubeconfig for the ServiceAccount the chart rendered."""
    name = one(manifests, "ServiceAccount")["metadata"]["name"]
    return await asyncio.to_thread(kube_cluster.service_account_kubeconfig, namespace, name)
