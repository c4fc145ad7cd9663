"""What ``serve`` sees the world with besides the anomaly topic: the coverage index of the
approved ClientIntents — kept by a list + watch on the cluster, or by the intents directory
with the directory sink — and, with ``CHATBOT_KAFKA_FLOWS_TOPIC``, the reader of Hubble flows
with its owner lookups through the apiserver.

Cluster access is used when the configuration already has it (the kubernetes sink, the
NetworkPolicy format, ``CHATBOT_KUBECONFIG``, or a pod's ServiceAccount); without it, flows
whose workloads Hubble does not name are skipped as ``owner-unknown`` and the git sink has no
coverage index (every flow is judged by the store's own dedup).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from chatbot.cluster.owners import OwnerResolver
from chatbot.config.settings import Settings
from chatbot.config.validate import in_cluster
from chatbot.dependency import NotReady
from chatbot.events.hubble import HubbleOptions
from chatbot.events.hubble_dedup import ConnectionDedup
from chatbot.events.hubble_outcome import Owner, PodRef
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.directory_index import DirectoryIndex
from chatbot.intents.kubernetes import cluster_client
from chatbot.intents.watch import IntentsWatcher
from chatbot.metrics import Metrics
from chatbot.sensors.hubble_intake import HubbleIntake
from chatbot.sensors.hubble_records import HubbleRecords


@dataclass
class Sensing:
    coverage: CoverageIndex | None
    """The approved intents flows are checked against; None when there is nothing to read."""
    follow: Callable[[], Awaitable[None]] | None
    """Keeps ``coverage`` current until cancelled."""
    flows: HubbleRecords | None
    """The flows topic's reader, with CHATBOT_KAFKA_FLOWS_TOPIC."""
    synced: asyncio.Event | None = None
    """Set once ``coverage`` holds a full listing."""

    async def ready(self) -> bool:
        """The advisory readiness check: the approved intents have been read."""
        if self.synced is not None and not self.synced.is_set():
            raise NotReady("the approved ClientIntents are not read yet; Hubble flows wait in "
                           "Kafka until they are")
        return True


async def open_sensing(settings: Settings, *, metrics: Metrics, stack: AsyncExitStack,
                       on_change: Callable[[], None]) -> Sensing:
    """``on_change`` runs whenever the approved intents changed (after the index has)."""
    api = None
    if (settings.intents_sink == "kubernetes" or settings.intents_format == "networkpolicy"
            or settings.kubeconfig is not None or in_cluster()):
        api = await cluster_client(settings.kubeconfig)
        stack.push_async_callback(api.close)

    async def changed(_ref: IntentRef, _document: dict[str, Any] | None) -> None:
        on_change()

    coverage: CoverageIndex | None = None
    follow: Callable[[], Awaitable[None]] | None = None
    synced: asyncio.Event | None = None
    directory = settings.intents_directory
    if settings.intents_format == "clientintents" and (directory is not None or api):
        coverage = CoverageIndex()
        keeper: DirectoryIndex | IntentsWatcher
        if directory is not None:
            keeper = DirectoryIndex(directory, index=coverage, on_change=changed)
        else:
            assert api is not None
            keeper = IntentsWatcher(api, index=coverage, on_change=changed)
        follow, synced = keeper.run, keeper.synced
    flows = None
    if settings.kafka.flows_topic:
        options = HubbleOptions(include_dns=settings.hubble_include_dns,
                                default_cluster=settings.hubble_cluster)
        intake = HubbleIntake(options=options, dedup=ConnectionDedup(),
                              owners=OwnerResolver(api) if api else _NoOwners(),
                              # Not ``coverage or ...``: an index is empty (falsy) until
                              # its keeper has listed, and the intake must share it.
                              coverage=coverage if coverage is not None else CoverageIndex())
        flows = HubbleRecords(intake=intake, metrics=metrics, synced=synced)
    return Sensing(coverage=coverage, follow=follow, flows=flows, synced=synced)


class _NoOwners:
    """No cluster to ask: a pod Hubble names without its workload stays unknown."""

    async def owners(self, pods: Iterable[PodRef]) -> Mapping[PodRef, Owner]:
        return {}
