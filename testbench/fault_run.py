"""Pieces every fault run shares: the settings ``chatbot serve`` gets pointed at the bench,
waiting until the service has caught up with everything sent, and a watch on ``/readyz``
that remembers every check it ever saw fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.store.models import Anomaly
from chatbot.store.offsets import events_stored
from testbench.flow_stream import Stream
from testbench.kafka import KafkaBroker
from testbench.service_process import ServiceProcess
from testbench.standin_process import StandinProcess

WATCH_EVERY = 0.2


async def service_env(*, broker: KafkaBroker, topic: str, database_url: str,
                      kubeconfig: Path, standin: StandinProcess, rules: Path,
                      partitions: int = 3, redis_url: str | None = None) -> dict[str, str]:
    """Create ``topic`` (and its dead-letter topic) and return the service's settings."""
    await broker.create_topic(topic, partitions=partitions)
    await broker.create_topic(f"{topic}.dlq")
    env = {**standin.env(), "CHATBOT_KAFKA_BOOTSTRAP": broker.bootstrap,
           "CHATBOT_KAFKA_TOPIC": topic, "CHATBOT_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
           "CHATBOT_KAFKA_GROUP": f"{topic}-bot", "CHATBOT_DATABASE_URL": database_url,
           "CHATBOT_KUBECONFIG": str(kubeconfig), "CHATBOT_INTENTS_SINK": "kubernetes",
           "CHATBOT_CONFIG": str(rules), "CHATBOT_LOG_LEVEL": "INFO"}
    if redis_url:
        env["CHATBOT_REDIS_URL"] = redis_url
    return env


async def ensure_namespaces(kube: ApiClient, names: Iterable[str]) -> None:
    for name in names:
        try:
            await client.CoreV1Api(kube).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        except ApiException as exc:
            if exc.status != 409:
                raise


@dataclass
class Progress:
    stored: int = 0
    unposted: int = 0
    applied: set[str] = field(default_factory=set)


async def progress(sessions: async_sessionmaker[AsyncSession]) -> Progress:
    async with sessions() as session:
        return Progress(
            stored=await events_stored(session),
            unposted=int(await session.scalar(select(func.count()).select_from(Anomaly)
                                               .where(Anomaly.slack_ts.is_(None))) or 0),
            applied=set((await session.execute(
                select(Anomaly.id).where(Anomaly.state == "applied"))).scalars()))


async def wait_settled(sessions: async_sessionmaker[AsyncSession], events: Stream, *,
                       producing: asyncio.Task[None] | None = None,
                       approved: Iterable[str] = (), within: float) -> bool:
    """Wait until every event is sent and stored, every anomaly has its card and every
    approval is applied; False if that takes longer than ``within`` seconds."""
    wanted = set(approved)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if producing is None or producing.done():
            now = await progress(sessions)
            if now.stored == events.sent and now.unposted == 0 and wanted <= now.applied:
                return True
        await asyncio.sleep(0.5)
    return False


class ReadinessWatch:
    """Samples ``/readyz`` in the background; ``failed`` holds every check (and ``ready``)
    seen false at least once, ``unanswered`` counts samples nobody answered."""

    def __init__(self, service: ServiceProcess) -> None:
        self._service = service
        self.failed: set[str] = set()
        self.samples = 0
        self.unanswered = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ReadinessWatch:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def clear(self) -> None:
        self.failed.clear()

    async def _watch(self) -> None:
        while True:
            seen = await self._service.readiness()
            self.samples += 1
            if seen is None:
                self.unanswered += 1
            else:
                self.failed.update(check for check, ok in seen.items() if not ok)
            await asyncio.sleep(WATCH_EVERY)
