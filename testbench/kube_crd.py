"""Installing CustomResourceDefinitions into the bench's apiserver (the ClientIntents CRD
from deploy/crds/), used by the pytest fixtures and by ``python -m testbench up``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from testbench.process import BenchError

CRD_DIRECTORY = Path(__file__).resolve().parents[1] / "deploy" / "crds"
CLIENTINTENTS_CRD = CRD_DIRECTORY / "clientintents.k8s.otterize.com.yaml"
ESTABLISH_TIMEOUT = 30.0


async def apply_crd(api_client: ApiClient, manifest: Path) -> str:
    """Create or replace the CRD in `manifest` and wait until the apiserver serves it."""
    body = yaml.safe_load(await asyncio.to_thread(manifest.read_text))
    name: str = body["metadata"]["name"]
    extensions = client.ApiextensionsV1Api(api_client)
    try:
        await extensions.create_custom_resource_definition(body=body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        existing = await extensions.read_custom_resource_definition(name)
        body["metadata"]["resourceVersion"] = existing.metadata.resource_version
        await extensions.replace_custom_resource_definition(name, body=body)
    await _wait_established(extensions, name)
    return name


async def _wait_established(extensions: client.ApiextensionsV1Api, name: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ESTABLISH_TIMEOUT
    conditions: dict[str, str] = {}
    while loop.time() < deadline:
        crd = await extensions.read_custom_resource_definition(name)
        conditions = {
            condition.type: condition.status
            for condition in (crd.status.conditions if crd.status else None) or ()
        }
        if conditions.get("Established") == "True":
            return
        await asyncio.sleep(0.2)
    raise BenchError("kube-apiserver", f"CRD {name} not Established: {conditions}")
