"""Putting rendered chart manifests into the bench's apiserver: the kinds that need no
controller for real, the rest (Deployment, Job, PVC, Ingress, ...) as a server-side dry run,
which still runs defaulting, validation and admission."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.dynamic import DynamicClient

from testbench.kube_crd import apply_crd
from tests.deploy.chart import Manifest

REAL_KINDS = frozenset({"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                        "RoleBinding", "ConfigMap", "Service"})

# Just enough of the Prometheus Operator's CRD for the apiserver to accept a ServiceMonitor.
SERVICEMONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList",
                  "plural": "servicemonitors", "singular": "servicemonitor"},
        "scope": "Namespaced",
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }}],
    },
}


async def install_servicemonitor_crd(api_client: ApiClient, workdir: Path) -> None:
    manifest = workdir / "servicemonitors.monitoring.coreos.com.yaml"
    manifest.write_text(yaml.safe_dump(SERVICEMONITOR_CRD))
    await apply_crd(api_client, manifest)


async def apply(api_client: ApiClient, manifests: Iterable[Manifest], *,
                namespace: str) -> list[str]:
    """Create every manifest (dry run unless its kind is in REAL_KINDS) in ``namespace``
    unless it names its own; returns ``Kind/name (created|dry run)`` per object."""
    dynamic = await DynamicClient(api_client)
    done = []
    for manifest in manifests:
        resource = await dynamic.resources.get(api_version=manifest["apiVersion"],
                                               kind=manifest["kind"])
        target = (manifest["metadata"].get("namespace", namespace) if resource.namespaced
                  else None)
        real = manifest["kind"] in REAL_KINDS
        await dynamic.create(resource, body=manifest, namespace=target,
                             dry_run=None if real else "All")
        done.append(f"{manifest['kind']}/{manifest['metadata']['name']} "
                    f"({'created' if real else 'dry run'})")
    return done
