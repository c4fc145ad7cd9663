"""The ClientIntents watcher against the bench's real apiserver: the coverage index follows
objects created, changed and deleted by anyone; a 410 Gone and the periodic resync re-list."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.errors import TemporaryError
from chatbot.events.model import FlowEvent, KubernetesTarget, Workload
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.document import GROUP, VERSION
from chatbot.intents.kubernetes import PLURAL
from chatbot.intents.watch import IntentsWatcher
from testbench.fixtures.kube import kube_api_client
from testbench.kube import KubeCluster

pytestmark = [pytest.mark.bench, pytest.mark.usefixtures("clientintents_crd")]

FOLLOW_TIMEOUT = 10.0
LEDGER = KubernetesTarget(name="ledger", namespace="billing", kind="StatefulSet", port=9090,
                          protocol="TCP")
GITHUB_API = {"internet": {"domains": ["api.github.com"], "ports": [443]}}


def flow(namespace: str, target: KubernetesTarget = LEDGER) -> FlowEvent:
    return FlowEvent(event_id="e-1", observed_at=datetime(2026, 3, 1, tzinfo=UTC),
                     cluster="default",
                     client=Workload(name="checkout", namespace=namespace, kind="Deployment"),
                     target=target)


def intents(name: str, *targets: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ClientIntents",
            "metadata": {"name": name},
            "spec": {"workload": {"name": "checkout", "kind": "Deployment"},
                     "targets": list(targets)}}


class Changes:
    """What on_change was told, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[IntentRef, bool]] = []

    async def __call__(self, ref: IntentRef, document: dict[str, Any] | None) -> None:
        self.seen.append((ref, document is not None))


@pytest.fixture
def objects(kube_admin_client: ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_admin_client)


@contextlib.asynccontextmanager
async def running(watcher: IntentsWatcher) -> AsyncIterator[None]:
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.synced.wait(), FOLLOW_TIMEOUT)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(condition: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + FOLLOW_TIMEOUT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the index did not follow the cluster in time")
        await asyncio.sleep(0.05)


async def test_the_index_follows_clientintents_created_changed_and_deleted_by_anyone(
        kube_admin_client: ApiClient, objects: client.CustomObjectsApi,
        kube_namespace: str) -> None:
    ns = kube_namespace
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, intents("before", GITHUB_API))
    index, changes = CoverageIndex(), Changes()
    watcher = IntentsWatcher(kube_admin_client, index=index, namespace=ns, on_change=changes)
    async with running(watcher):
        assert index.refs() == {IntentRef(ns, "before")}
        assert not index.covers(flow(ns))

        await objects.create_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL,
            intents("checkout", {"kubernetes": {"name": "ledger.billing"}}))
        await eventually(lambda: index.covering(flow(ns)) == IntentRef(ns, "checkout"))

        current = await objects.get_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, "checkout")
        current["spec"]["targets"] = [{"kubernetes": {"name": "ledger.billing",
                                                      "kind": "Deployment"}}]
        await objects.replace_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, "checkout", current)
        await eventually(lambda: not index.covers(flow(ns)))

        current = await objects.get_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, "checkout")
        current["spec"]["targets"].append({"kubernetes": {"name": "ledger.billing"}})
        await objects.replace_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, "checkout", current)
        await eventually(lambda: index.covers(flow(ns)))

        await objects.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "checkout")
        await eventually(lambda: not index.covers(flow(ns)))

    checkout = IntentRef(ns, "checkout")
    assert changes.seen == [(IntentRef(ns, "before"), True), (checkout, True), (checkout, True),
                            (checkout, True), (checkout, False)]


async def test_a_watch_from_a_version_the_apiserver_no_longer_has_asks_for_a_relist(
        kube_admin_client: ApiClient, objects: client.CustomObjectsApi,
        kube_namespace: str) -> None:
    ns = kube_namespace
    index = CoverageIndex()
    watcher = IntentsWatcher(kube_admin_client, index=index, namespace=ns)
    version = await watcher.relist()
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL,
        intents("checkout", {"kubernetes": {"name": "ledger.billing"}}))

    # The apiserver answers a too-old resourceVersion with an ERROR event, code 410.
    assert await watcher.watch("1") is None
    assert watcher.gone == 1 and not index.covers(flow(ns))
    newer = await watcher.relist()
    assert int(newer) > int(version) and index.covers(flow(ns))
    assert watcher.relists == 2


async def test_the_periodic_resync_heals_an_index_that_missed_a_change(
        kube_admin_client: ApiClient, objects: client.CustomObjectsApi,
        kube_namespace: str) -> None:
    ns = kube_namespace
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL,
        intents("checkout", {"kubernetes": {"name": "ledger.billing"}}))
    index = CoverageIndex()
    watcher = IntentsWatcher(kube_admin_client, index=index, namespace=ns, resync_seconds=1.0)
    async with running(watcher):
        assert index.covers(flow(ns))
        index.remove(IntentRef(ns, "checkout"))  # as if an event had been lost
        await eventually(lambda: index.covers(flow(ns)))
        assert watcher.relists >= 2


async def test_a_cluster_wide_watcher_sees_every_namespace(
        kube_admin_client: ApiClient, objects: client.CustomObjectsApi,
        kube_namespace: str) -> None:
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL,
        intents("checkout", {"kubernetes": {"name": "ledger.billing"}}))
    index = CoverageIndex()
    async with running(IntentsWatcher(kube_admin_client, index=index)):
        assert IntentRef(kube_namespace, "checkout") in index.refs()
        assert index.covers(flow(kube_namespace))


async def test_without_rbac_the_watcher_keeps_retrying_and_never_claims_to_be_synced(
        kube_cluster: KubeCluster) -> None:
    async with kube_api_client(kube_cluster.user_kubeconfig("no-intents-reader")) as api:
        watcher = IntentsWatcher(api, index=CoverageIndex())
        with pytest.raises(TemporaryError, match="needs list and watch on clientintents"):
            await watcher.relist()
        task = asyncio.create_task(watcher.run())
        await asyncio.sleep(1.0)
        assert not task.done() and not watcher.synced.is_set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_event_that_fails_unexpectedly_is_logged_and_the_watch_goes_on(
        kube_admin_client: ApiClient, objects: client.CustomObjectsApi,
        kube_namespace: str) -> None:
    ns = kube_namespace
    index, failed = CoverageIndex(), list[IntentRef]()

    async def on_change(ref: IntentRef, document: dict[str, Any] | None) -> None:
        if ref.name == "boom" and not failed:
            failed.append(ref)
            raise RuntimeError("a bug in what follows a change")

    watcher = IntentsWatcher(kube_admin_client, index=index, namespace=ns, on_change=on_change)
    async with running(watcher):
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, intents("boom", GITHUB_API))
        await eventually(lambda: bool(failed) and watcher.relists >= 2)
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL,
            intents("checkout", {"kubernetes": {"name": "ledger.billing"}}))
        await eventually(lambda: index.covering(flow(ns)) == IntentRef(ns, "checkout"))
        assert IntentRef(ns, "boom") in index.refs()
