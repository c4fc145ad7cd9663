"""The GitOps variant of the NetworkPolicy sink: the same policies the cluster sink would write,
as one YAML file per policy (``<policy name>.<namespace>.yaml``) in a directory a GitOps
repository takes. Pod selectors are still read from the cluster (get only): a policy written
from a guessed selector would silently protect the wrong pods.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from kubernetes_asyncio.client import ApiClient

from chatbot.events.model import Target, Workload
from chatbot.intents.directory import read_yaml, write_yaml
from chatbot.intents.document import ApprovalNote
from chatbot.intents.networkpolicy.cluster import applied
from chatbot.intents.networkpolicy.policy import DNS, KIND, Dns, Policy, merge, policy_name
from chatbot.intents.networkpolicy.resolve import ClusterResolver, grants_for
from chatbot.intents.networkpolicy.rules import Grant
from chatbot.intents.refusal import unreachable
from chatbot.intents.sink import Applied


class NetworkPolicyDirectorySink:
    """Reads selectors through `api_client`, which it owns: :meth:`close` closes it."""

    def __init__(self, path: Path, api_client: ApiClient, *, dns: Dns = DNS) -> None:
        self._path = path
        self._api_client = api_client
        self._resolver = ClusterResolver(api_client)
        self._dns = dns
        self._locks: dict[Path, asyncio.Lock] = {}

    @property
    def api_client(self) -> ApiClient:
        return self._api_client

    def file_for(self, grant: Grant) -> Path:
        name = policy_name(grant.pods, grant.direction)
        return self._path / f"{name}.{grant.pods.namespace}.yaml"

    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        try:
            grants = await grants_for(self._resolver, client=client, target=target)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(exc) from exc
        written = [await self._write(grant, note) for grant in grants]
        result = applied(written)
        files = ", ".join(str(self.file_for(grant)) for grant in grants)
        return Applied(files, changed=result.changed, document=result.document)

    async def close(self) -> None:
        await self._api_client.close()

    async def _write(self, grant: Grant, note: ApprovalNote) -> tuple[Policy, bool]:
        file = self.file_for(grant)
        async with self._locks.setdefault(file, asyncio.Lock()):
            existing = await asyncio.to_thread(_read, file)
            merged = merge(existing, grant, note, dns=self._dns)
            if merged.changed:
                await asyncio.to_thread(write_yaml, file, merged.document)
        return merged.document, merged.changed


def _read(file: Path) -> Policy | None:
    return read_yaml(file, holds="NetworkPolicy", kind=KIND)
