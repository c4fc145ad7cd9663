"""The NetworkPolicy sink for the apiserver: resolves the flow's pods (resolve.py), translates
it (rules.py), and merges each grant into the bot's policy for that workload and direction
(policy.py), written back with its resourceVersion as a precondition and re-read and retried
when someone else wrote first. Plugs in wherever an IntentsSink does (chatbot/intents/sink.py).

The only module that writes NetworkPolicies to the apiserver.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any, cast

import aiohttp
from kubernetes_asyncio.client import ApiClient, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.errors import TemporaryError
from chatbot.events.model import Target, Workload
from chatbot.intents.document import ApprovalNote
from chatbot.intents.networkpolicy.impact import Impact, ObservedFlow, preview
from chatbot.intents.networkpolicy.policy import (
    DNS,
    GROUP,
    PLURAL,
    VERSION,
    Dns,
    Policy,
    merge,
    policy_name,
)
from chatbot.intents.networkpolicy.refusal import refused
from chatbot.intents.networkpolicy.resolve import ClusterResolver, Resolver, grants_for
from chatbot.intents.networkpolicy.rules import Grant
from chatbot.intents.refusal import unreachable
from chatbot.intents.sink import Applied

CONFLICT_RETRIES = 5
BACKOFF_SECONDS = 0.05
REQUEST_TIMEOUT = 30.0
LIST_PAGE_SIZE = 250


class NetworkPolicySink:
    """Writes through `api_client`, which it owns: :meth:`close` closes it."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        resolver: Resolver | None = None,
        dns: Dns = DNS,
        conflict_retries: int = CONFLICT_RETRIES,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        self._api_client = api_client
        self._objects = CustomObjectsApi(api_client)
        self._resolver = resolver or ClusterResolver(api_client)
        self._dns = dns
        self._conflict_retries = conflict_retries
        self._backoff = backoff

    @property
    def api_client(self) -> ApiClient:
        return self._api_client

    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        try:
            written = [await self._write(grant, note)
                       for grant in await grants_for(self._resolver, client=client,
                                                     target=target)]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(exc) from exc
        return applied(written)

    async def preview(self, *, client: Workload, target: Target,
                      observed: Sequence[ObservedFlow]) -> Impact:
        """Who this approval would cut off, from the policies in the two namespaces now."""
        try:
            grants = await grants_for(self._resolver, client=client, target=target)
            namespaces = sorted({grant.pods.namespace for grant in grants})
            policies = [policy for namespace in namespaces
                        for policy in await self._list(namespace)]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(exc) from exc
        return preview(approved=ObservedFlow(client, target), grants=grants, policies=policies,
                       observed=observed, dns=self._dns)

    async def close(self) -> None:
        await self._api_client.close()

    async def _write(self, grant: Grant, note: ApprovalNote) -> tuple[Policy, bool]:
        namespace, name = grant.pods.namespace, policy_name(grant.pods, grant.direction)
        for attempt in range(self._conflict_retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            existing = await self._get(namespace, name)
            merged = merge(existing, grant, note, dns=self._dns)
            if not merged.changed:
                return merged.document, False
            body = _without_managed_fields(merged.document)
            try:
                if existing is None:
                    written = await self._objects.create_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, body,
                        _request_timeout=REQUEST_TIMEOUT)
                else:
                    written = await self._objects.replace_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, name, body,
                        _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status == 409 or (exc.status == 404 and existing is not None):
                    continue  # someone else created, changed or deleted it since we read
                raise refused(exc, doing=f"write NetworkPolicy {namespace}/{name}") from exc
            return cast(Policy, written), True
        raise TemporaryError(
            f"NetworkPolicy {namespace}/{name} kept changing while we wrote it; gave up after "
            f"{self._conflict_retries + 1} attempts", delay=1.0)

    async def _get(self, namespace: str, name: str) -> Policy | None:
        try:
            return cast(Policy, await self._objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise refused(exc, doing=f"read NetworkPolicy {namespace}/{name}") from exc

    async def _list(self, namespace: str) -> list[Policy]:
        found: list[Policy] = []
        token: str | None = None
        while True:
            paging: dict[str, Any] = {"_continue": token} if token else {}
            try:
                page = cast(dict[str, Any], await self._objects.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, limit=LIST_PAGE_SIZE,
                    _request_timeout=REQUEST_TIMEOUT, **paging))
            except ApiException as exc:
                raise refused(exc, doing=f"list the NetworkPolicies of {namespace}") from exc
            found += page.get("items") or ()
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return found


def applied(written: Sequence[tuple[Policy, bool]]) -> Applied:
    """One Applied for the policies one approval touched (a v1 List, as kubectl prints many)."""
    refs = [_ref(policy) for policy, _ in written]
    return Applied(
        ", ".join(refs),
        changed=any(changed for _, changed in written),
        document={"apiVersion": "v1", "kind": "List", "items": [p for p, _ in written]},
    )


def _without_managed_fields(policy: Policy) -> Policy:
    # Omitted on update, the apiserver keeps its field-manager records; echoed back, it would
    # take them as ours.
    body = dict(policy)
    body["metadata"] = {key: value for key, value in (policy.get("metadata") or {}).items()
                        if key != "managedFields"}
    return body


def _ref(policy: Policy) -> str:
    metadata = policy.get("metadata") or {}
    return f"NetworkPolicy {metadata.get('namespace')}/{metadata.get('name')}"
