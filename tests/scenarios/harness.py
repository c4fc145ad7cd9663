"""A running bot wired to the real bench, and the verbs scenario stories are written in:
an event arrives on Kafka, a card appears in Slack, a person clicks, the cluster changes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from chatbot.service import Service
from chatbot.slack.ids import ActionId
from chatbot.store.models import Anomaly, AuditEntry
from testbench.slack import SlackStandin
from testbench.slack.signing import block_actions_payload, interaction_body, post_signed

OWNER = "U0OWNER"
STRANGER = "U0STRANGER"


def flow_event(*, client_ns: str, client: str = "web", target: str = "game-api",
               target_ns: str | None = None, port: int = 8080,
               http: dict[str, str] | None = None, event_id: str | None = None,
               severity: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1, "event_id": event_id or uuid.uuid4().hex,
        "observed_at": "2026-11-23T10:00:00Z", "cluster": "bench",
        "client": {"name": client, "namespace": client_ns, "kind": "Deployment"},
        "target": {"type": "kubernetes", "name": target, "namespace": target_ns or client_ns,
                   "kind": "Deployment", "port": port, "protocol": "TCP"},
    }
    if http:
        event["target"]["http"] = http
    if severity:
        event["severity"] = severity
    return event


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 20.0,
                     what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


@dataclass
class Bot:
    service: Service
    slack: SlackStandin
    bootstrap: str
    topic: str
    url: str
    secret: str
    kube: ApiClient

    async def send(self, *events: dict[str, Any] | bytes, key: bytes | None = None) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            for event in events:
                raw = event if isinstance(event, bytes) else orjson.dumps(event)
                await producer.send(self.topic, raw, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    async def anomalies(self) -> list[Anomaly]:
        async with self.service.sessions() as session:
            return list((await session.execute(select(Anomaly))).scalars())

    async def anomaly(self, anomaly_id: str) -> Anomaly:
        async with self.service.sessions() as session:
            row = await session.get(Anomaly, anomaly_id)
            assert row is not None
            return row

    async def audit(self, anomaly_id: str | None = None) -> list[tuple[str, str, str]]:
        async with self.service.sessions() as session:
            query = select(AuditEntry).order_by(AuditEntry.id)
            if anomaly_id:
                query = query.where(AuditEntry.anomaly_id == anomaly_id)
            rows = (await session.execute(query)).scalars()
            return [(row.actor, row.action, row.result) for row in rows]

    async def card_posted(self, channel: str = "flow-alerts", count: int = 1) -> list[Anomaly]:
        """Wait until ``count`` anomalies have their Slack message recorded."""
        async def posted() -> bool:
            return len([a for a in await self.anomalies() if a.slack_ts]) >= count
        await eventually(posted, what=f"{count} card(s) posted")
        return [a for a in await self.anomalies() if a.slack_ts]

    async def click(self, anomaly: Anomaly, action: ActionId, *, user: str = OWNER,
                    timestamp: int | None = None, secret: str | None = None) -> int:
        assert anomaly.slack_channel_id and anomaly.slack_ts
        payload = block_actions_payload(user_id=user, action_id=action.value,
                                        value=anomaly.id, channel_id=anomaly.slack_channel_id,
                                        message_ts=anomaly.slack_ts)
        status, _ = await post_signed(self.url, interaction_body(payload),
                                      secret or self.secret, timestamp=timestamp)
        return status

    async def click_in(self, channel_id: str, ts: str, anomaly_id: str, action: ActionId, *,
                       user: str = OWNER) -> int:
        """A click on any message showing the anomaly's buttons (the war-room one, say)."""
        payload = block_actions_payload(user_id=user, action_id=action.value, value=anomaly_id,
                                        channel_id=channel_id, message_ts=ts)
        status, _ = await post_signed(self.url, interaction_body(payload), self.secret)
        return status

    async def slack_calls_counted(self) -> dict[tuple[str, str], float]:
        """``slack_calls_total`` from the bot's ``/metrics``, by (method, outcome)."""
        async with aiohttp.ClientSession() as http, http.get(
                self.url.removesuffix("/slack/events") + "/metrics") as response:
            text = await response.text()
        return {(sample.labels["method"], sample.labels["outcome"]): sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "slack_calls" for sample in family.samples
                if sample.name == "slack_calls_total"}

    async def client_intents(self, namespace: str) -> list[dict[str, Any]]:
        listed = await client.CustomObjectsApi(self.kube).list_namespaced_custom_object(
            "k8s.otterize.com", "v2beta1", namespace, "clientintents")
        items: list[dict[str, Any]] = listed["items"]
        return items

    async def state_is(self, anomaly_id: str, *states: str, within: float = 20.0) -> Anomaly:
        async def reached() -> bool:
            return (await self.anomaly(anomaly_id)).state in states
        await eventually(reached, within=within, what=f"state in {states}")
        return await self.anomaly(anomaly_id)
