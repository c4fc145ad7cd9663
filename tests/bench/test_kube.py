"""The bench's apiserver is a real one: the ClientIntents CRD is served and validated, and
RBAC refuses a user with no grant and admits the same user once a Role allows it."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from testbench.fixtures.kube import kube_api_client
from testbench.kube import KubeCluster
from testbench.kube_build import KUBERNETES_VERSION

pytestmark = [pytest.mark.bench, pytest.mark.usefixtures("clientintents_crd")]

GROUP = "k8s.otterize.com"
VERSION = "v2beta1"
PLURAL = "clientintents"
RBAC_GROUP = "rbac.authorization.k8s.io"
INTENTS: dict[str, object] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ClientIntents",
    "metadata": {"name": "checkout"},
    "spec": {
        "workload": {"name": "checkout", "kind": "Deployment"},
        "targets": [
            {
                "kubernetes": {
                    "name": "payments.billing",
                    "kind": "Deployment",
                    "http": [{"path": "/charge", "methods": ["POST", "GET"]}],
                }
            },
            {"service": {"name": "ledger"}},
            {
                "kafka": {
                    "name": "kafka.infra",
                    "topics": [{"name": "orders", "operations": ["produce", "describe"]}],
                }
            },
            {
                "internet": {
                    "domains": ["api.stripe.com"],
                    "ips": ["203.0.113.7"],
                    "ports": [443],
                }
            },
        ],
    },
}


async def create_intents(
    api_client: ApiClient, namespace: str, body: dict[str, object] = INTENTS
) -> dict[str, object]:
    created: dict[str, object] = await client.CustomObjectsApi(
        api_client
    ).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    return created


async def test_clientintents_crd_is_established(
    kube_admin_client: ApiClient, clientintents_crd: str
) -> None:
    crd = await client.ApiextensionsV1Api(kube_admin_client).read_custom_resource_definition(
        clientintents_crd
    )
    conditions = {condition.type: condition.status for condition in crd.status.conditions}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert [version.name for version in crd.spec.versions] == [VERSION]


async def test_admin_creates_clientintents_and_reads_back_the_same_spec(
    kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    await create_intents(kube_admin_client, kube_namespace)

    stored = await client.CustomObjectsApi(kube_admin_client).get_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "checkout"
    )

    assert stored["spec"] == INTENTS["spec"]
    assert stored["metadata"]["namespace"] == kube_namespace


async def test_user_without_role_binding_is_refused(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    stranger = kube_cluster.user_kubeconfig(f"stranger-{uuid.uuid4().hex[:6]}")

    async with kube_api_client(stranger) as api_client:
        with pytest.raises(ApiException) as refused:
            await create_intents(api_client, kube_namespace)

    assert refused.value.status == 403


async def test_user_granted_a_role_may_create_clientintents(
    kube_cluster: KubeCluster, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    user = f"writer-{uuid.uuid4().hex[:6]}"
    kubeconfig = kube_cluster.user_kubeconfig(user)
    async with kube_api_client(kubeconfig) as api_client:
        with pytest.raises(ApiException) as refused:
            await create_intents(api_client, kube_namespace)
        assert refused.value.status == 403

        await grant_create_clientintents(kube_admin_client, kube_namespace, user)
        created = await create_until_authorized(api_client, kube_namespace)

    metadata = created["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["namespace"] == kube_namespace


async def test_schema_rejects_a_target_with_two_kinds(
    kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    body = {
        **INTENTS,
        "spec": {
            "workload": {"name": "checkout"},
            "targets": [{"kubernetes": {"name": "payments"}, "service": {"name": "payments"}}],
        },
    }

    with pytest.raises(ApiException) as rejected:
        await create_intents(kube_admin_client, kube_namespace, body)

    assert rejected.value.status == 422
    refusal = json.loads(rejected.value.body or "{}")
    assert "spec.targets[0]" in refusal["message"]


async def grant_create_clientintents(api_client: ApiClient, namespace: str, user: str) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    role = "clientintents-writer"
    await rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name=role),
            rules=[client.V1PolicyRule(api_groups=[GROUP], resources=[PLURAL], verbs=["create"])],
        ),
    )
    await rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=f"{role}-{user}"),
            role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="Role", name=role),
            subjects=[client.RbacV1Subject(api_group=RBAC_GROUP, kind="User", name=user)],
        ),
    )


async def create_until_authorized(api_client: ApiClient, namespace: str) -> dict[str, object]:
    """The RBAC authorizer reads roles from a watch cache, so a fresh grant takes a moment."""
    async with asyncio.timeout(10):
        while True:
            try:
                return await create_intents(api_client, namespace)
            except ApiException as exc:
                if exc.status != 403:
                    raise
            await asyncio.sleep(0.1)


async def test_service_account_kubeconfig_authenticates_as_the_service_account(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    kubeconfig = kube_cluster.service_account_kubeconfig(kube_namespace, "chatbot")

    async with kube_api_client(kubeconfig) as api_client:
        with pytest.raises(ApiException) as refused:
            await create_intents(api_client, kube_namespace)

    assert refused.value.status == 403
    refusal = json.loads(refused.value.body or "{}")
    assert f"system:serviceaccount:{kube_namespace}:chatbot" in refusal["message"]


def test_env_points_the_bot_at_the_admin_kubeconfig(kube_cluster: KubeCluster) -> None:
    assert kube_cluster.env() == {"CHATBOT_KUBECONFIG": str(kube_cluster.admin_kubeconfig)}
    assert kube_cluster.admin_kubeconfig.is_file()


async def test_the_apiserver_reports_its_release_version(kube_admin_client: ApiClient) -> None:
    """As a real cluster does: helm checks a chart's kubeVersion against it."""
    info = await client.VersionApi(kube_admin_client).get_code()
    assert (info.git_version, info.major, info.minor) == (f"v{KUBERNETES_VERSION}", "1",
                                                          KUBERNETES_VERSION.split(".")[1])
