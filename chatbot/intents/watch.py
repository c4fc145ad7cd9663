"""Keeps the coverage index (coverage.py) equal to the ClientIntents in the cluster: list, then
watch from the list's resourceVersion; a 410 Gone (the apiserver no longer has that history)
or the periodic resync re-lists and replaces the index, so a missed event heals by itself.

Every change that reaches the index is passed to ``on_change(ref, document or None)``, which
is how a pending anomaly learns that someone else's ClientIntents now covers it. Transient
failures (apiserver down, RBAC not granted yet) are retried with capped backoff and logged,
and so is anything unexpected from one event (a line that is not JSON), which re-lists;
``synced`` is set once the index holds a full listing, for readiness.

Needs list and watch on clientintents (k8s.otterize.com).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio.client import ApiClient, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.errors import TemporaryError
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.document import GROUP, VERSION
from chatbot.intents.kubernetes import PLURAL

log = logging.getLogger(__name__)

RESYNC_SECONDS = 600.0
WATCH_SECONDS = 300
"""How long one watch request stays open (the apiserver's timeoutSeconds)."""
LIST_PAGE_SIZE = 500
REQUEST_TIMEOUT = 30.0
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
MAX_EVENT_BYTES = 4 * 1024 * 1024

OnChange = Callable[[IntentRef, dict[str, Any] | None], Awaitable[None]]


class IntentsWatcher:
    """Reads through `api_client`, which the caller owns and closes."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        index: CoverageIndex,
        namespace: str | None = None,
        on_change: OnChange | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        watch_seconds: int = WATCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._objects = CustomObjectsApi(api_client)
        self._index = index
        self._namespace = namespace
        self._on_change = on_change
        self._resync_seconds = resync_seconds
        self._watch_seconds = watch_seconds
        self._clock = clock
        self._versions: dict[IntentRef, str] = {}
        self._resync_at = 0.0
        self.synced = asyncio.Event()
        self.relists = 0
        self.gone = 0
        """410 Gone answers seen: each one cost a re-list."""

    async def run(self) -> None:
        """List and watch until cancelled."""
        failures = 0
        while True:
            try:
                resource_version: str | None = await self.relist()
                while resource_version is not None:
                    resource_version = await self.watch(resource_version)
                failures = 0
            except TemporaryError as error:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, max(error.delay, BACKOFF_SECONDS * 2 ** failures))
                log.warning("ClientIntents watch: %s; retrying in %.1fs", error, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            except Exception:
                # One event nobody foresaw (a line that is not JSON, a callback's bug) must not
                # end the task and with it the service; a re-list catches up on what it skipped.
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** failures)
                log.exception("ClientIntents watch failed unexpectedly; re-listing in %.1fs",
                              delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))

    async def relist(self) -> str:
        """Replace the index with a full listing; returns its resourceVersion."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            paging = {"_continue": token} if token else {}
            page = await self._call(self._list(**paging))
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                break
        documents = {ref: item for item in items if (ref := _ref(item)) is not None}
        previous = self._versions
        self._versions = {ref: _version(document) for ref, document in documents.items()}
        self._index.replace_all(documents.items())
        self.relists += 1
        self._resync_at = self._clock() + self._resync_seconds
        self.synced.set()
        for ref, document in documents.items():
            if previous.get(ref) != self._versions[ref]:
                await self._changed(ref, document)
        for ref in previous.keys() - self._versions.keys():
            await self._changed(ref, None)
        return str(metadata.get("resourceVersion") or "")

    async def watch(self, resource_version: str) -> str | None:
        """Follow changes from `resource_version` until the request ends; the version to go
        on from, or None when the index must be re-listed (410 Gone, or resync due)."""
        remaining = self._resync_at - self._clock()
        if remaining <= 0:
            return None
        timeout = max(1, min(self._watch_seconds, int(remaining)))
        response = await self._call(self._list(
            watch=True, resource_version=resource_version, allow_watch_bookmarks=True,
            timeout_seconds=timeout, _preload_content=False,
            _request_timeout=timeout + REQUEST_TIMEOUT))
        try:
            if response.status == 410:
                self.gone += 1
                return None
            if response.status >= 400:
                body = await response.read()
                raise _failure(ApiException(status=response.status, reason=body[:300]))
            return await self._follow(response, resource_version)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TemporaryError(f"the ClientIntents watch broke: {exc}") from exc
        finally:
            response.release()

    async def _follow(self, response: Any, resource_version: str) -> str | None:
        buffer = b""
        async for chunk in response.content.iter_any():
            buffer += chunk
            if len(buffer) > MAX_EVENT_BYTES and b"\n" not in buffer:
                raise TemporaryError("a ClientIntents watch event exceeded 4 MiB")
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                next_version = await self._apply(orjson.loads(line))
                if next_version is None:
                    return None
                resource_version = next_version or resource_version
        return resource_version

    async def _apply(self, event: dict[str, Any]) -> str | None:
        kind, document = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if document.get("code") == 410:
                self.gone += 1
                return None
            raise TemporaryError(f"the ClientIntents watch failed: {document.get('message')}")
        version = _version(document)
        ref = _ref(document)
        if kind == "BOOKMARK" or ref is None:
            return version
        if kind == "DELETED":
            self._versions.pop(ref, None)
            self._index.remove(ref)
            await self._changed(ref, None)
        elif kind in ("ADDED", "MODIFIED"):
            self._versions[ref] = version
            self._index.upsert(ref, document)
            await self._changed(ref, document)
        return version

    async def _changed(self, ref: IntentRef, document: dict[str, Any] | None) -> None:
        if self._on_change is not None:
            await self._on_change(ref, document)

    async def _list(self, **options: Any) -> Any:
        if self._namespace is None:
            return await self._objects.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, limit=LIST_PAGE_SIZE, **_defaults(options))
        return await self._objects.list_namespaced_custom_object(
            GROUP, VERSION, self._namespace, PLURAL, limit=LIST_PAGE_SIZE, **_defaults(options))

    async def _call(self, request: Awaitable[Any]) -> Any:
        try:
            return await request
        except ApiException as exc:
            raise _failure(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TemporaryError(f"cannot reach the apiserver for ClientIntents: {exc}",
                                 delay=BACKOFF_SECONDS) from exc


def _defaults(options: dict[str, Any]) -> dict[str, Any]:
    if options.get("watch"):
        options.pop("limit", None)
    return {"_request_timeout": REQUEST_TIMEOUT, **options}


def _failure(exc: ApiException) -> TemporaryError:
    status = exc.status or 0
    if status in (401, 403):
        return TemporaryError(f"the apiserver refused to list ClientIntents ({status}); the "
                              "service needs list and watch on clientintents.k8s.otterize.com",
                              delay=MAX_BACKOFF_SECONDS)
    if status == 404:
        return TemporaryError("the apiserver does not serve ClientIntents "
                              f"({GROUP}/{VERSION}); is Otterize's CRD installed?",
                              delay=MAX_BACKOFF_SECONDS)
    return TemporaryError(f"the apiserver failed a ClientIntents request ({status}): "
                          f"{exc.reason}", delay=BACKOFF_SECONDS)


def _ref(document: object) -> IntentRef | None:
    metadata = document.get("metadata") if isinstance(document, dict) else None
    if not isinstance(metadata, dict):
        return None
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    return IntentRef(namespace, name)


def _version(document: object) -> str:
    metadata = document.get("metadata") if isinstance(document, dict) else None
    version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) else ""
