"""Workloads, Pods and Services created in the bench apiserver for the NetworkPolicy sink to read
selectors from. Nothing runs them (no controllers, no nodes): the objects are what matters."""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.dynamic import DynamicClient

from chatbot.events.model import Workload

IMAGE = "registry.example/app:1"


def template(labels: dict[str, str], *, restart: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{
        "name": "app", "image": IMAGE,
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "grpc",
                                                          "containerPort": 50051}]}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels}, "spec": spec}


KINDS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
         "ReplicaSet": "apps/v1", "Job": "batch/v1", "Pod": "v1", "Service": "v1"}


async def create(api_client: ApiClient, kind: str, namespace: str, name: str,
                 labels: dict[str, str]) -> Workload:
    """Create `kind` `name` whose pods carry `labels` (selected by their ``app`` label)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": labels["app"]}},
                            "template": template(labels)}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    elif kind == "Job":
        # The apiserver picks a Job's selector (a controller-uid label) and adds it to the pods.
        spec = {"template": template(labels, restart="Never")}
    elif kind == "Pod":
        metadata["labels"] = labels
        spec = template(labels)["spec"]
    await _create(api_client, kind, {"metadata": metadata, "spec": spec})
    return Workload(name=name, namespace=namespace, kind=kind)


async def service(api_client: ApiClient, namespace: str, name: str, app: str,
                  ports: list[dict[str, Any]]) -> None:
    await _create(api_client, "Service", {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": app}, "ports": ports}})


async def _create(api_client: ApiClient, kind: str, manifest: dict[str, Any]) -> None:
    dynamic = await DynamicClient(api_client)
    resource = await dynamic.resources.get(api_version=KINDS[kind], kind=kind)
    await dynamic.create(resource, body={"apiVersion": KINDS[kind], "kind": kind, **manifest},
                         namespace=manifest["metadata"]["namespace"])


async def namespace(api_client: ApiClient, prefix: str = "np") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name
