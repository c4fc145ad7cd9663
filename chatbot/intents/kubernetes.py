"""The Kubernetes intents sink: finds the client workload's ClientIntents by listing its
namespace, merges the approved target (document.py) — or removes a revoked one (removal.py) —
and writes the object back with its resourceVersion as a precondition, re-reading and
retrying when someone else wrote first.

The only module that talks to the apiserver about intents.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException

from chatbot.errors import ConfigError, TemporaryError
from chatbot.events.model import Target, Workload
from chatbot.intents.document import (
    GROUP,
    VERSION,
    ApprovalNote,
    Document,
    describes,
    merge,
    target_entry,
)
from chatbot.intents.refusal import refusal, unreachable
from chatbot.intents.removal import Keep, remove
from chatbot.intents.sink import Applied, Revoked

PLURAL = "clientintents"
# What this sink does to ClientIntents (list to find, get/create/update/patch to merge):
# the chart's RBAC grants these, and `check-config --online` asks the apiserver for each.
VERBS = ("get", "list", "create", "update", "patch")
CONFLICT_RETRIES = 5
BACKOFF_SECONDS = 0.05
REQUEST_TIMEOUT = 30.0
LIST_PAGE_SIZE = 250


class KubernetesSink:
    """Writes through `api_client`, which it owns: :meth:`close` closes it."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        conflict_retries: int = CONFLICT_RETRIES,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        self._api_client = api_client
        self._objects = CustomObjectsApi(api_client)
        self._conflict_retries = conflict_retries
        self._backoff = backoff

    @property
    def api_client(self) -> ApiClient:
        return self._api_client

    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        try:
            return await self._apply(client, target, note)
        except ApiException as exc:
            raise refusal(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(exc) from exc

    async def revoke(self, *, client: Workload, target: Target, anomaly_id: str,
                     keep: Sequence[Keep]) -> Revoked:
        try:
            return await self._revoke(client, target, anomaly_id, keep)
        except ApiException as exc:
            raise refusal(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(exc) from exc

    async def read(self, client: Workload) -> Document | None:
        """The workload's ClientIntents as it stands (for the card), or None."""
        try:
            return await self._find(client)
        except ApiException as exc:
            raise refusal(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(exc) from exc

    async def close(self) -> None:
        await self._api_client.close()

    async def _revoke(self, client: Workload, target: Target, anomaly_id: str,
                      keep: Sequence[Keep]) -> Revoked:
        entry = target_entry(client, target)

        async def attempt() -> Revoked:
            existing = await self._find(client)
            if existing is None:
                return Revoked(None, changed=False, recorded=False)
            removal = remove(existing, client=client, anomaly_id=anomaly_id, entry=entry,
                             keep=keep)
            written = await self._replace(removal.document) if removal.changed else existing
            return Revoked(_ref(written), changed=removal.changed, recorded=removal.recorded,
                           removed=removal.removed, kept_for=removal.kept_for,
                           still_allowed=removal.still_allowed)

        return await self._retrying(attempt, client)

    async def _retrying(self, attempt: Callable[[], Awaitable[Revoked]],
                        client: Workload) -> Revoked:
        """Run ``attempt`` until it is not refused by a concurrent write (409, or 404 for an
        object deleted since it was read)."""
        for number in range(self._conflict_retries + 1):
            if number:
                await asyncio.sleep(self._backoff * 2 ** (number - 1) * random.uniform(0.5, 1.5))
            try:
                return await attempt()
            except ApiException as exc:
                if exc.status not in (404, 409):
                    raise
        raise TemporaryError(
            f"the ClientIntents of {client.namespace}/{client.name} kept changing while we "
            f"removed a target; gave up after {self._conflict_retries + 1} attempts",
            delay=1.0,
        )

    async def _apply(self, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        entry = target_entry(client, target)
        name_taken = False
        for attempt in range(self._conflict_retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            existing = await self._find(client)
            merged = merge(existing, client=client, entry=entry, note=note)
            if not merged.changed:
                return Applied(_ref(merged.document), changed=False, document=merged.document)
            try:
                if existing is None:
                    written = await self._create(merged.document, generate_name=name_taken)
                else:
                    written = await self._replace(merged.document)
            except ApiException as exc:
                if exc.status == 409 or (exc.status == 404 and existing is not None):
                    # Someone else wrote (or deleted) it since we read: read again. A create
                    # refused while the namespace still has none for us means another
                    # workload's object holds our name.
                    name_taken = existing is None
                    continue
                raise
            return Applied(_ref(written), changed=True, document=written)
        raise TemporaryError(
            f"the ClientIntents of {client.namespace}/{client.name} kept changing while we "
            f"wrote it; gave up after {self._conflict_retries + 1} attempts",
            delay=1.0,
        )

    async def _find(self, client: Workload) -> Document | None:
        """The operator allows one ClientIntents per workload, under any name: search by spec."""
        found: list[Document] = []
        token: str | None = None
        while True:
            paging: dict[str, Any] = {"_continue": token} if token else {}
            page = cast(dict[str, Any], await self._objects.list_namespaced_custom_object(
                GROUP, VERSION, client.namespace, PLURAL,
                limit=LIST_PAGE_SIZE, _request_timeout=REQUEST_TIMEOUT, **paging,
            ))
            found += [item for item in page.get("items") or () if describes(item, client)]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
        if not found:
            return None
        return min(found, key=lambda item: (
            item["metadata"].get("creationTimestamp", ""), item["metadata"]["name"]
        ))

    async def _create(self, document: Document, *, generate_name: bool) -> Document:
        metadata = document["metadata"]
        if generate_name:
            metadata["generateName"] = f"{metadata.pop('name')}-"
        return cast(Document, await self._objects.create_namespaced_custom_object(
            GROUP, VERSION, metadata["namespace"], PLURAL, document,
            _request_timeout=REQUEST_TIMEOUT,
        ))

    async def _replace(self, document: Document) -> Document:
        metadata = document["metadata"]
        return cast(Document, await self._objects.replace_namespaced_custom_object(
            GROUP, VERSION, metadata["namespace"], PLURAL, metadata["name"], document,
            _request_timeout=REQUEST_TIMEOUT,
        ))


async def kubernetes_sink(kubeconfig: Path | None) -> KubernetesSink:
    """A sink with its own ApiClient: from `kubeconfig`, or the pod's ServiceAccount if None."""
    return KubernetesSink(await cluster_client(kubeconfig))


async def cluster_client(kubeconfig: Path | None) -> ApiClient:
    """An ApiClient from `kubeconfig`, or the pod's ServiceAccount if None; the caller closes
    it."""
    try:
        if kubeconfig is None:
            configuration = Configuration()
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            api_client = ApiClient(configuration=configuration)
        else:
            api_client = await config.new_client_from_config(
                config_file=str(kubeconfig), persist_config=False
            )
    except (ConfigException, OSError) as exc:
        problem = (f"cannot load kubeconfig {kubeconfig}" if kubeconfig
                   else "not set, and no in-cluster configuration either")
        raise ConfigError(f"CHATBOT_KUBECONFIG: {problem}: {exc}") from exc
    return api_client


def _ref(document: Document) -> str:
    metadata = document.get("metadata") or {}
    return f"ClientIntents {metadata.get('namespace')}/{metadata.get('name')}"
