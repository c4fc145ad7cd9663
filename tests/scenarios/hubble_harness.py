"""The verbs of the Hubble stories: ``chatbot serve`` reading a flows topic next to its anomaly
topic, one bot shared by a module's stories, and per story a namespace of its own with the
flows a Hubble exporter would write about it — encoded by Cilium's own types (the bench's
generator, testbench/hubble/), then shipped to Kafka the way Fluent Bit or Vector ship lines.

Stories stay apart by namespace: each reads only the cards, anomalies and dead letters of its
own namespace (its records carry the namespace as the Kafka key), and counters as the change
since the story began.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kubernetes_asyncio import client
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from chatbot.intents.coverage import IntentRef
from chatbot.intents.document import GROUP, VERSION
from chatbot.intents.kubernetes import PLURAL
from chatbot.pipeline.dead_letter import REASON_HEADER
from chatbot.store.models import Anomaly
from testbench.hubble_flows import Format, hubble_lines
from testbench.kafka import KafkaBroker
from testbench.slack import Shown, SlackStandin
from tests.scenarios.conftest import RULES, running_bot
from tests.scenarios.harness import Bot, eventually

Spec = dict[str, Any]
CHANNEL = "flow-alerts"
CART_POD = "cart-5d8f7c9b6-x2x7k"
"""A Deployment's pod: ``<deployment>-<pod-template-hash>-<suffix>``."""


@dataclass
class FlowsBot:
    """The running service, the topics it reads and writes, and the generator."""

    bot: Bot
    flows_topic: str
    dlq_topic: str
    generator: Path
    database_url: str

    @property
    def slack(self) -> SlackStandin:
        return self.bot.slack

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of the bot's ``/metrics``, by (name, sorted labels)."""
        base = self.bot.url.removesuffix("/slack/events")
        async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples}

    async def metric(self, name: str, **labels: str) -> float:
        return (await self.metrics()).get((name, tuple(sorted(labels.items()))), 0.0)

    async def caught_up(self) -> None:
        """Wait until every record on the bot's topics is stored and its offset committed:
        the barrier before saying that something did not happen."""
        assert self.bot.service.pipeline is not None
        consumer = self.bot.service.pipeline.kafka_consumer

        async def committed() -> bool:
            parts = consumer.assignment()
            if not parts:
                return False
            ends = await consumer.end_offsets(list(parts))
            # A partition nothing was ever written to has no committed offset.
            return all([(await consumer.committed(tp) or 0) == ends[tp] for tp in parts])
        await eventually(committed, what="every record stored and committed")


@asynccontextmanager
async def flows_bot(*, workdir: Path, broker: KafkaBroker, slack: SlackStandin,
                    kube: client.ApiClient, kubeconfig: Path,
                    generator: Path) -> AsyncIterator[FlowsBot]:
    """``serve`` with the bench's defaults (SQLite, the kubernetes sink, the admin's
    kubeconfig) and ``CHATBOT_KAFKA_FLOWS_TOPIC`` set."""
    stem = f"hubble-{uuid.uuid4().hex[:8]}"
    topics = {role: f"{stem}-{role}" for role in ("anomalies", "flows", "dlq")}
    for role, name in topics.items():
        await broker.create_topic(name, partitions=1 if role == "dlq" else 3)
    rules = workdir / "rules.yaml"
    rules.write_text(RULES)
    database_url = f"sqlite+aiosqlite:///{workdir / 'chatbot.db'}"
    env = {
        **slack.env(),
        "CHATBOT_KAFKA_BOOTSTRAP": broker.bootstrap,
        "CHATBOT_KAFKA_TOPIC": topics["anomalies"],
        "CHATBOT_KAFKA_FLOWS_TOPIC": topics["flows"],
        "CHATBOT_KAFKA_DLQ_TOPIC": topics["dlq"], "CHATBOT_KAFKA_GROUP": stem,
        "CHATBOT_DATABASE_URL": database_url, "CHATBOT_KUBECONFIG": str(kubeconfig),
        "CHATBOT_INTENTS_SINK": "kubernetes", "CHATBOT_CONFIG": str(rules),
        "CHATBOT_HTTP_HOST": "127.0.0.1",
    }
    async with running_bot(env, slack, kube) as bot:
        yield FlowsBot(bot=bot, flows_topic=topics["flows"], dlq_topic=topics["dlq"],
                       generator=generator, database_url=database_url)


@dataclass(frozen=True)
class DeadLetter:
    value: bytes | None
    headers: dict[str, bytes]

    @property
    def reason(self) -> str:
        return self.headers[REASON_HEADER].decode()


@dataclass
class Story:
    """One story's namespace on the shared bot: cart (a Deployment) calls ledger (a
    StatefulSet) there, seen by Hubble at cart's node unless a spec says otherwise."""

    flows: FlowsBot
    namespace: str
    counters_before: Mapping[tuple[str, tuple[tuple[str, str], ...]], float]
    _sent: int = field(default=0)

    @property
    def bot(self) -> Bot:
        return self.flows.bot

    def cart(self, **extra: Any) -> Spec:
        return {"ns": self.namespace, "pod": CART_POD, "labels": {"app": "cart"},
                "workload": {"name": "cart", "kind": "Deployment"}, **extra}

    def ledger(self, **extra: Any) -> Spec:
        return {"ns": self.namespace, "pod": "ledger-0", "labels": {"app": "ledger"},
                "workload": {"name": "ledger", "kind": "StatefulSet"}, "remote": False,
                **extra}

    def flow(self, **extra: Any) -> Spec:
        """cart → ledger:9090, forwarded, at cart's node (ledger local too, so both sides
        carry their workloads): the flow the stories vary."""
        return {"src": self.cart(), "dst": self.ledger(), "dport": 9090, **extra}

    def lines(self, specs: Iterable[Spec], fmt: Format = Format.EXPORTER) -> list[bytes]:
        """The generator's records for ``specs``, each stamped with the time it is sent
        (unless it names one): flows from the same moment would share uuids across stories,
        and Hubble's own clock moves on."""
        stamped = [{"time": self._now(), **spec} for spec in specs]
        return hubble_lines(stamped, format=fmt, binary=self.flows.generator)

    async def send(self, *records: Spec | bytes, fmt: Format = Format.EXPORTER) -> list[bytes]:
        """Ship records to the flows topic in order (keyed by the namespace, so they share a
        partition, as one node's shipper would); specs are encoded by the generator, bytes
        go as they are. Returns what was sent."""
        specs = [record for record in records if not isinstance(record, bytes)]
        encoded = iter(self.lines(specs, fmt) if specs else [])
        values = [record if isinstance(record, bytes) else next(encoded) for record in records]
        producer = AIOKafkaProducer(bootstrap_servers=self.bot.bootstrap, acks="all")
        await producer.start()
        try:
            for value in values:
                await producer.send(self.flows.flows_topic, value, key=self.namespace.encode())
            await producer.flush()
        finally:
            await producer.stop()
        return values

    async def anomalies(self) -> list[Anomaly]:
        async with self.bot.service.sessions() as session:
            query = select(Anomaly).where(Anomaly.client_namespace == self.namespace)
            return list((await session.execute(query)).scalars())

    async def cards(self, count: int) -> list[Anomaly]:
        """Wait until ``count`` of this namespace's anomalies have their Slack message."""
        async def posted() -> bool:
            return len([a for a in await self.anomalies() if a.slack_ts]) >= count
        await eventually(posted, what=f"{count} card(s) for {self.namespace}")
        return sorted((a for a in await self.anomalies() if a.slack_ts),
                      key=lambda a: a.first_seen)

    def shown(self) -> list[Shown]:
        """This namespace's cards in the channel, as a person reads them."""
        return [shown for shown in self.flows.slack.shown(CHANNEL)
                if not shown.is_reply and f"{self.namespace}/" in shown.text]

    def card_of(self, anomaly: Anomaly) -> Shown:
        [card] = [shown for shown in self.shown() if shown.ts == anomaly.slack_ts]
        return card

    async def counted(self, name: str, **labels: str) -> float:
        """How much a counter went up since the story began."""
        key = (name, tuple(sorted(labels.items())))
        return await self.flows.metric(name, **labels) - self.counters_before.get(key, 0.0)

    async def counted_at_least(self, amount: float, name: str, **labels: str) -> None:
        async def reached() -> bool:
            return await self.counted(name, **labels) >= amount
        await eventually(reached, what=f"{name}{labels or ''} up by {amount}")

    async def dead_letters(self, count: int) -> list[DeadLetter]:
        """Wait for ``count`` records of this story on the dead-letter topic."""
        consumer = AIOKafkaConsumer(self.flows.dlq_topic, bootstrap_servers=self.bot.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: list[DeadLetter] = []
        try:
            async def enough() -> bool:
                batch = await consumer.getmany(timeout_ms=200)
                found.extend(DeadLetter(r.value, dict(r.headers)) for records in batch.values()
                             for r in records if r.key == self.namespace.encode())
                return len(found) >= count
            await eventually(enough, what=f"{count} dead letters from {self.namespace}")
        finally:
            await consumer.stop()
        return found

    async def approved_by_hand(self, name: str, targets: list[dict[str, Any]]) -> IntentRef:
        """A ClientIntents for cart someone else wrote; returns once the bot's coverage
        index holds it (the watch is the bot's own task, its timing not the story's)."""
        await client.CustomObjectsApi(self.bot.kube).create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "ClientIntents",
                "metadata": {"name": name},
                "spec": {"workload": {"name": "cart", "kind": "Deployment"},
                         "targets": targets}})
        ref = IntentRef(self.namespace, name)
        await self.index_holds(ref)
        return ref

    async def index_holds(self, ref: IntentRef) -> None:
        coverage = self.bot.service.sensing.coverage
        assert coverage is not None

        async def held() -> bool:
            return ref in coverage.refs()
        await eventually(held, what=f"the coverage index to hold {ref}")

    def _now(self) -> str:
        self._sent += 1
        at = datetime.now(UTC) + timedelta(microseconds=self._sent)
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def new_story(flows: FlowsBot) -> Story:
    namespace = f"hubble-{uuid.uuid4().hex[:10]}"
    await client.CoreV1Api(flows.bot.kube).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    return Story(flows=flows, namespace=namespace, counters_before=await flows.metrics())
