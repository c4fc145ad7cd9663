"""Who owns a pod: the workload a Hubble flow means when it names only a pod (Hubble gives
workloads only for endpoints on the reporting node). Follows the controller ownerReference
Pod -> ReplicaSet -> Deployment and Pod -> Job -> CronJob; StatefulSets, DaemonSets and any
other controller are taken from the pod's reference as they are. A pod with no controller is
its own workload (kind Pod).

Answers are cached (bounded, with a TTL; "no such pod" for a shorter while), and lookups for
the same pod or ReplicaSet in flight at once share one request. In the flow: hubble mapping
gives NeedsOwners -> :meth:`OwnerResolver.owners` -> ``NeedsOwners.complete``.

Needs get on pods, replicasets (apps) and jobs (batch).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import aiohttp
from kubernetes_asyncio.client import ApiClient, AppsV1Api, BatchV1Api, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.errors import PermanentError, TemporaryError
from chatbot.events.hubble_outcome import Owner, PodRef

CAPACITY = 20_000
TTL_SECONDS = 300.0
"""Owners change only when a workload is replaced; five minutes bounds a stale answer."""
MISSING_TTL_SECONDS = 30.0
"""A pod not found may still be in the apiserver's watch cache lag; ask again soon."""
CONCURRENCY = 16
REQUEST_TIMEOUT = 10.0
FORBIDDEN_DELAY = 60.0
UNAVAILABLE_DELAY = 5.0
TEMPLATE_HASH = "pod-template-hash"

_K = TypeVar("_K")
_V = TypeVar("_V")


class TtlCache(Generic[_K, _V]):
    """Least recently used out first, each entry good for its own TTL."""

    def __init__(self, *, capacity: int, clock: Callable[[], float]) -> None:
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[_K, tuple[float, _V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: _K) -> tuple[bool, _V | None]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if entry[0] <= self._clock():
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: _K, value: _V, ttl: float) -> None:
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class OwnerResolver:
    """Reads through `api_client`, which the caller owns and closes."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        capacity: int = CAPACITY,
        ttl: float = TTL_SECONDS,
        missing_ttl: float = MISSING_TTL_SECONDS,
        concurrency: int = CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = CoreV1Api(api_client)
        self._apps = AppsV1Api(api_client)
        self._batch = BatchV1Api(api_client)
        self._ttl = ttl
        self._missing_ttl = missing_ttl
        self._pods: TtlCache[PodRef, Owner | None] = TtlCache(capacity=capacity, clock=clock)
        self._controllers: TtlCache[tuple[str, str, str], Owner | None] = TtlCache(
            capacity=capacity, clock=clock)
        self._in_flight: dict[object, asyncio.Future[Owner | None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self.lookups = 0
        """Requests sent to the apiserver, for tests and metrics."""

    async def owners(self, pods: Iterable[PodRef]) -> dict[PodRef, Owner]:
        """The owner of each pod that exists; pods not found are left out."""
        unique = list(dict.fromkeys(pods))
        found = await asyncio.gather(*(self.owner(pod) for pod in unique))
        return {pod: owner for pod, owner in zip(unique, found, strict=True) if owner}

    async def owner(self, pod: PodRef) -> Owner | None:
        hit, known = self._pods.get(pod)
        if hit:
            return known
        owner = await self._shared(pod, lambda: self._pod_owner(pod))
        self._pods.put(pod, owner, self._ttl if owner else self._missing_ttl)
        return owner

    async def _pod_owner(self, pod: PodRef) -> Owner | None:
        metadata = await self._metadata(
            f"pod {pod.namespace}/{pod.pod}",
            lambda: self._core.read_namespaced_pod(pod.pod, pod.namespace,
                                                   _request_timeout=REQUEST_TIMEOUT))
        if metadata is None:
            return None
        controller = _controller(metadata)
        if controller is None:
            return Owner(name=pod.pod, kind="Pod")
        name, kind = controller
        if kind == "ReplicaSet":
            above = await self._controller_owner(pod.namespace, "ReplicaSet", name)
            if above is not None:
                return above
            # The ReplicaSet is gone (a rollout finished): Deployments name their
            # ReplicaSets <deployment>-<pod-template-hash>.
            template_hash = (metadata.labels or {}).get(TEMPLATE_HASH)
            if template_hash and name.endswith(f"-{template_hash}"):
                return Owner(name=name.removesuffix(f"-{template_hash}"), kind="Deployment")
        if kind == "Job":
            above = await self._controller_owner(pod.namespace, "Job", name)
            if above is not None:
                return above
        return Owner(name=name, kind=kind)

    async def _controller_owner(self, namespace: str, kind: str, name: str) -> Owner | None:
        """What controls this ReplicaSet or Job: itself if nothing does, None if it is gone."""
        key = (namespace, kind, name)
        hit, known = self._controllers.get(key)
        if hit:
            return known

        async def look_up() -> Owner | None:
            read = (self._apps.read_namespaced_replica_set if kind == "ReplicaSet"
                    else self._batch.read_namespaced_job)
            metadata = await self._metadata(
                f"{kind} {namespace}/{name}",
                lambda: read(name, namespace, _request_timeout=REQUEST_TIMEOUT))
            if metadata is None:
                return None
            controller = _controller(metadata)
            if controller is None:
                return Owner(name=name, kind=kind)
            return Owner(name=controller[0], kind=controller[1])

        owner = await self._shared(key, look_up)
        self._controllers.put(key, owner, self._ttl if owner else self._missing_ttl)
        return owner

    async def _shared(self, key: object,
                      look_up: Callable[[], Awaitable[Owner | None]]) -> Owner | None:
        """One request per key at a time; concurrent callers await the same answer."""
        waiting = self._in_flight.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[Owner | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            owner = await look_up()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a future nobody awaited stays quiet
            raise
        else:
            future.set_result(owner)
            return owner
        finally:
            del self._in_flight[key]

    async def _metadata(self, what: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """The object's metadata, or None if the apiserver says it does not exist."""
        async with self._slots:
            self.lookups += 1
            try:
                found = await read()
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise _refused(what, exc) from exc
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise TemporaryError(f"cannot reach the apiserver to read {what}: {exc}",
                                     delay=UNAVAILABLE_DELAY) from exc
        return found.metadata


def _controller(metadata: Any) -> tuple[str, str] | None:
    for reference in metadata.owner_references or ():
        if reference.controller:
            return reference.name, reference.kind
    return None


def _refused(what: str, exc: ApiException) -> TemporaryError | PermanentError:
    status = exc.status or 0
    if status in (401, 403):
        # RBAC can be fixed without a redeploy; keep asking.
        return TemporaryError(f"the apiserver refused to show {what} ({status}); the service "
                              "needs get on pods, apps/replicasets and batch/jobs",
                              delay=FORBIDDEN_DELAY)
    if status in (0, 408, 429) or status >= 500:
        return TemporaryError(f"the apiserver could not show {what} now ({status})",
                              delay=UNAVAILABLE_DELAY)
    return PermanentError(f"the apiserver refused to show {what} ({status}): {exc.reason}")
