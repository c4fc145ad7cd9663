"""The Kubernetes sink against the bench's real apiserver: one ClientIntents per workload,
found by its spec, merged under optimistic concurrency, refused readably without RBAC."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.errors import ConfigError, PermanentError, TemporaryError
from chatbot.events.model import HttpCall, KafkaTarget, KubernetesTarget, Target, Workload
from chatbot.intents.document import (
    ANOMALY_IDS,
    APPROVED_BY,
    GROUP,
    MANAGED_BY_LABEL,
    VERSION,
    ApprovalNote,
)
from chatbot.intents.kubernetes import PLURAL, KubernetesSink, kubernetes_sink
from chatbot.intents.sink import Applied
from testbench.kube import KubeCluster
from testbench.process import free_port

pytestmark = [pytest.mark.bench, pytest.mark.usefixtures("clientintents_crd")]

RBAC_GROUP = "rbac.authorization.k8s.io"
GRANT_TIMEOUT = 10.0


def note(anomaly_id: str = "a-1") -> ApprovalNote:
    return ApprovalNote(anomaly_id, "U024BE7LH", datetime(2025, 3, 1, 12, 0, tzinfo=UTC))


def checkout(namespace: str) -> Workload:
    return Workload(name="checkout", namespace=namespace, kind="Deployment")


def deployment(name: str, namespace: str = "billing") -> KubernetesTarget:
    return KubernetesTarget(name=name, namespace=namespace, kind="Deployment", port=8080,
                            protocol="TCP")


@pytest.fixture
async def sink(kube_cluster: KubeCluster) -> AsyncIterator[KubernetesSink]:
    admin_sink = await kubernetes_sink(kube_cluster.admin_kubeconfig)
    try:
        yield admin_sink
    finally:
        await admin_sink.close()


async def stored(api_client: ApiClient, namespace: str) -> list[dict[str, Any]]:
    listed = await client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL
    )
    items: list[dict[str, Any]] = listed["items"]
    return items


async def test_approve_creates_the_clientintents(
    sink: KubernetesSink, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    applied = await sink.apply(client=checkout(kube_namespace),
                               target=deployment("payments"), note=note("a-1"))

    [intents] = await stored(kube_admin_client, kube_namespace)
    assert applied.changed
    assert applied.object_ref == f"ClientIntents {kube_namespace}/checkout"
    assert intents["metadata"]["name"] == "checkout"
    assert intents["metadata"]["labels"] == {MANAGED_BY_LABEL: "flow-approval-chatbot"}
    assert intents["metadata"]["annotations"][APPROVED_BY] == "U024BE7LH"
    assert intents["metadata"]["annotations"][ANOMALY_IDS] == "a-1"
    assert intents["spec"] == {
        "workload": {"name": "checkout", "kind": "Deployment"},
        "targets": [{"kubernetes": {"name": "payments.billing", "kind": "Deployment"}}],
    }


async def test_a_second_flow_of_the_same_client_joins_the_same_object(
    sink: KubernetesSink, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    client_workload = checkout(kube_namespace)
    ledger = KubernetesTarget(name="ledger", namespace=kube_namespace, kind="Service", port=80,
                              protocol="TCP", http=HttpCall("/entries", "POST"))

    await sink.apply(client=client_workload, target=deployment("payments"), note=note("a-1"))
    await sink.apply(client=client_workload, target=ledger, note=note("a-2"))

    [intents] = await stored(kube_admin_client, kube_namespace)
    assert intents["spec"]["targets"] == [
        {"kubernetes": {"name": "payments.billing", "kind": "Deployment"}},
        {"service": {"name": "ledger", "http": [{"path": "/entries", "methods": ["POST"]}]}},
    ]
    assert intents["metadata"]["annotations"][ANOMALY_IDS] == "a-1,a-2"


async def test_an_approval_already_allowed_writes_nothing(
    sink: KubernetesSink, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    first = await sink.apply(client=checkout(kube_namespace), target=deployment("payments"),
                             note=note("a-1"))

    again = await sink.apply(client=checkout(kube_namespace), target=deployment("payments"),
                             note=note("a-2"))

    [intents] = await stored(kube_admin_client, kube_namespace)
    assert not again.changed
    version = intents["metadata"]["resourceVersion"]
    assert version == first.document["metadata"]["resourceVersion"]
    assert again.document["metadata"]["resourceVersion"] == version


async def test_someone_elses_clientintents_gets_our_target_and_keeps_theirs(
    sink: KubernetesSink, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    theirs: list[dict[str, Any]] = [{"service": {"name": "ledger"}},
                                    {"internet": {"domains": ["api.stripe.com"], "ports": [443]}}]
    await create_theirs(kube_admin_client, kube_namespace, "checkout-by-platform-team",
                        kind="Deployment", targets=theirs)

    applied = await sink.apply(client=checkout(kube_namespace), target=deployment("payments"),
                               note=note())

    [intents] = await stored(kube_admin_client, kube_namespace)
    assert applied.object_ref == f"ClientIntents {kube_namespace}/checkout-by-platform-team"
    assert intents["metadata"]["name"] == "checkout-by-platform-team"
    assert intents["spec"]["targets"] == [
        *theirs, {"kubernetes": {"name": "payments.billing", "kind": "Deployment"}}]
    assert "labels" not in intents["metadata"]
    assert intents["metadata"]["annotations"][ANOMALY_IDS] == "a-1"


async def test_our_name_held_by_another_workloads_object_gets_a_generated_name(
    sink: KubernetesSink, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    await create_theirs(kube_admin_client, kube_namespace, "checkout", kind="StatefulSet",
                        targets=[])

    applied = await sink.apply(client=checkout(kube_namespace), target=deployment("payments"),
                               note=note())

    by_kind = {item["spec"]["workload"]["kind"]: item
               for item in await stored(kube_admin_client, kube_namespace)}
    ours = by_kind["Deployment"]
    assert ours["metadata"]["name"].startswith("checkout-")
    assert applied.object_ref == f"ClientIntents {kube_namespace}/{ours['metadata']['name']}"
    assert by_kind["StatefulSet"]["spec"]["targets"] == []


@pytest.mark.parametrize("existing", [False, True], ids=["racing-to-create", "racing-to-update"])
async def test_concurrent_approvals_for_one_workload_all_land_in_one_object(
    sink: KubernetesSink, kube_admin_client: ApiClient, kube_namespace: str, existing: bool
) -> None:
    """Writers that read the same state collide (409 AlreadyExists or Conflict); each re-reads,
    merges again and retries."""
    before = ["payments.billing"] if existing else []
    if existing:
        await sink.apply(client=checkout(kube_namespace), target=deployment("payments"),
                         note=note())

    results = await approve_five(sink, kube_namespace)

    [intents] = await stored(kube_admin_client, kube_namespace)
    written = [entry["kubernetes"]["name"] for entry in intents["spec"]["targets"]]
    assert written[: len(before)] == before
    assert sorted(written[len(before):]) == [f"backend-{n}.billing" for n in range(5)]
    assert all(isinstance(result, Applied) and result.changed for result in results)


async def test_without_conflict_retries_concurrent_writers_collide(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    """The resourceVersion precondition is real: without the retries, racing writers fail."""
    admin = await kubernetes_sink(kube_cluster.admin_kubeconfig)
    impatient = KubernetesSink(admin.api_client, conflict_retries=0)
    try:
        await impatient.apply(client=checkout(kube_namespace), target=deployment("payments"),
                              note=note())
        results = await approve_five(impatient, kube_namespace)
    finally:
        await impatient.close()

    failures = [result for result in results if isinstance(result, BaseException)]
    assert failures
    assert all(isinstance(failure, TemporaryError) and "kept changing" in str(failure)
               for failure in failures)


async def test_an_object_the_schema_rejects_is_a_permanent_error_with_the_reason(
    sink: KubernetesSink, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    unknown_operation = KafkaTarget(name="kafka", namespace="infra", topic="orders",
                                    operation="teleport")

    with pytest.raises(PermanentError) as rejected:
        await sink.apply(client=checkout(kube_namespace), target=unknown_operation, note=note())

    message = str(rejected.value)
    assert message.startswith("the cluster rejected the ClientIntents object: ")
    assert "operations[0]" in message
    assert "teleport" in message
    assert await stored(kube_admin_client, kube_namespace) == []


async def test_a_user_without_rbac_gets_a_readable_temporary_refusal(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    stranger = await kubernetes_sink(
        kube_cluster.user_kubeconfig(f"stranger-{uuid.uuid4().hex[:6]}"))
    try:
        with pytest.raises(TemporaryError) as refused:
            await stranger.apply(client=checkout(kube_namespace), target=deployment("payments"),
                                 note=note())
    finally:
        await stranger.close()

    message = str(refused.value)
    assert message.startswith("the cluster refused the write: ")
    assert "clientintents.k8s.otterize.com is forbidden" in message
    assert 5 <= refused.value.delay <= 60  # soon enough to pick up an RBAC fix, no hammering


async def test_a_service_account_with_least_privilege_can_write(
    kube_cluster: KubeCluster, kube_admin_client: ApiClient, kube_namespace: str
) -> None:
    await grant(kube_admin_client, kube_namespace, "flow-approval-chatbot",
                verbs=["get", "list", "create", "update", "patch"])
    kubeconfig = kube_cluster.service_account_kubeconfig(kube_namespace, "flow-approval-chatbot")
    bot = await kubernetes_sink(kubeconfig)
    try:
        await apply_once_authorized(bot, checkout(kube_namespace), deployment("payments"))
        applied = await bot.apply(client=checkout(kube_namespace), target=deployment("ledger"),
                                  note=note("a-2"))
    finally:
        await bot.close()

    [intents] = await stored(kube_admin_client, kube_namespace)
    assert applied.changed
    assert [entry["kubernetes"]["name"] for entry in intents["spec"]["targets"]] == [
        "payments.billing", "ledger.billing"]


async def test_an_unreachable_apiserver_is_a_temporary_error(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    kubeconfig = yaml.safe_load(kube_cluster.admin_kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text(yaml.safe_dump(kubeconfig))
    lost = await kubernetes_sink(nowhere)
    try:
        with pytest.raises(TemporaryError, match="the cluster could not be reached"):
            await lost.apply(client=checkout("shop"), target=deployment("payments"), note=note())
    finally:
        await lost.close()


async def test_no_usable_kubeconfig_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=r"^CHATBOT_KUBECONFIG: cannot load kubeconfig .*missing"):
        await kubernetes_sink(tmp_path / "missing.yaml")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match=r"^CHATBOT_KUBECONFIG: not set"):
        await kubernetes_sink(None)


async def create_theirs(api_client: ApiClient, namespace: str, name: str, *, kind: str,
                        targets: list[dict[str, Any]]) -> None:
    await client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "ClientIntents", "metadata": {"name": name},
            "spec": {"workload": {"name": "checkout", "kind": kind}, "targets": targets},
        })


async def approve_five(sink: KubernetesSink, namespace: str) -> list[Applied | BaseException]:
    return await asyncio.gather(*(
        sink.apply(client=checkout(namespace), target=deployment(f"backend-{n}"),
                   note=note(f"a-{n}"))
        for n in range(5)
    ), return_exceptions=True)


async def grant(api_client: ApiClient, namespace: str, service_account: str,
                verbs: list[str]) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    await rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="clientintents-writer"),
        rules=[client.V1PolicyRule(api_groups=[GROUP], resources=[PLURAL], verbs=verbs)],
    ))
    await rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="clientintents-writer"),
        role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="Role", name="clientintents-writer"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=service_account,
                                       namespace=namespace)],
    ))


async def apply_once_authorized(
    sink: KubernetesSink, workload: Workload, target: Target
) -> Applied:
    """The RBAC authorizer reads roles from a watch cache, so a fresh grant takes a moment."""
    async with asyncio.timeout(GRANT_TIMEOUT):
        while True:
            try:
                return await sink.apply(client=workload, target=target, note=note())
            except TemporaryError as exc:
                if "forbidden" not in str(exc):
                    raise
            await asyncio.sleep(0.1)
