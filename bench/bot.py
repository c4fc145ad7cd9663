"""The whole service (``chatbot serve``) built in-process against the bench: Kafka, the
kube-apiserver with the ClientIntents CRD (or, for stages that decide nothing, the directory
sink), the Slack stand-in enforcing ~1 post/s/channel, and SQLite or PostgreSQL — the
approach of tests/scenarios, for the end-to-end figures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from bench import flows
from chatbot.config.settings import settings_from_env
from chatbot.service import Service, open_service
from testbench.fixtures.kube import kube_api_client
from testbench.kafka import KafkaBroker
from testbench.kube import KubeCluster
from testbench.kube_crd import CLIENTINTENTS_CRD, apply_crd
from testbench.process import free_port, port_open
from testbench.slack import SlackStandin


@dataclass
class Bot:
    service: Service
    slack: SlackStandin
    producer: AIOKafkaProducer
    topic: str
    url: str
    secret: str
    kube: ApiClient | None
    """None when the bot writes intents to a directory (no apiserver)."""

    async def send(self, values: list[bytes]) -> None:
        for value in values:
            await self.producer.send(self.topic, value)
        await self.producer.flush()


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float,
                     what: str, every: float = 0.5) -> float:
    """Wait until ``check`` holds; returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise TimeoutError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def prepare_cluster(kube: KubeCluster) -> None:
    """The CRD, and one namespace per benchmark team (ClientIntents live in the client's)."""
    async with kube_api_client(kube.admin_kubeconfig) as api:
        await apply_crd(api, CLIENTINTENTS_CRD)
        core = client.CoreV1Api(api)
        for index in range(flows.NAMESPACES):
            body = client.V1Namespace(metadata=client.V1ObjectMeta(
                name=flows.namespace(index)))
            try:
                await core.create_namespace(body)
            except ApiException as exc:
                if exc.status != 409:
                    raise


@asynccontextmanager
async def running_bot(*, broker: KafkaBroker, kube: KubeCluster | None, database_url: str,
                      workdir: Path, channels: int, rules: str | None = None,
                      log_level: str = "WARNING") -> AsyncIterator[Bot]:
    """``rules``: the rules file (default: the flood's routes, :func:`flows.rules_yaml`);
    without ``kube`` the approved intents go to a directory under ``workdir``."""
    topic = f"bot-{uuid.uuid4().hex[:8]}"
    await broker.create_topic(topic, partitions=3)
    await broker.create_topic(f"{topic}.dlq")
    rules_file = workdir / f"rules-{topic}.yaml"
    rules_file.write_text(rules if rules is not None else flows.rules_yaml(channels))
    port = free_port()
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(SlackStandin())
        api = (None if kube is None
               else await stack.enter_async_context(kube_api_client(kube.admin_kubeconfig)))
        for index in range(channels):
            slack.add_channel(flows.channel(index, channels))
        for name in ("flow-alerts", "war-room"):
            slack.add_channel(name)
        slack.enforce_rate_limit(per_channel_per_second=1.0)
        env = {
            **slack.env(), "CHATBOT_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CHATBOT_KAFKA_TOPIC": topic, "CHATBOT_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
            "CHATBOT_KAFKA_GROUP": f"bot-{topic}", "CHATBOT_DATABASE_URL": database_url,
            **({"CHATBOT_INTENTS_SINK": f"directory:{workdir / f'intents-{topic}'}"}
               if kube is None else {"CHATBOT_KUBECONFIG": str(kube.admin_kubeconfig),
                                     "CHATBOT_INTENTS_SINK": "kubernetes"}),
            "CHATBOT_CONFIG": str(rules_file),
            "CHATBOT_HTTP_HOST": "127.0.0.1", "CHATBOT_HTTP_PORT": str(port),
            "CHATBOT_LOG_LEVEL": log_level,
        }
        async with open_service(settings_from_env(env)) as service:
            stop = asyncio.Event()
            running = asyncio.create_task(service.run(stop))
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5,
                                        max_batch_size=1_000_000)
            await producer.start()
            try:
                async def listening() -> bool:
                    return port_open(port) and service.database.up

                await eventually(listening, within=30, what="the bot's HTTP port", every=0.1)
                yield Bot(service=service, slack=slack, producer=producer, topic=topic,
                          url=f"http://127.0.0.1:{port}/slack/events",
                          secret=env["CHATBOT_SLACK_SIGNING_SECRET"], kube=api)
            finally:
                await producer.stop()
                stop.set()
                await asyncio.wait_for(running, 60)
