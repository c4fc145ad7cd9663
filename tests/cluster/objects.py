"""Workload objects created the way their controllers would create them, ownerReferences
included: the bench's apiserver runs no controllers."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.events.hubble_outcome import PodRef

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
