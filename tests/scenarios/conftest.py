"""The bot under test: ``chatbot serve`` built in-process against the real bench (Kafka,
kube-apiserver with the ClientIntents CRD, the Slack stand-in, SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient

from chatbot.config.settings import settings_from_env
from chatbot.service import open_service
from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from testbench.kube import KubeCluster
from testbench.process import free_port, port_open
from testbench.slack import SlackStandin
from tests.scenarios.harness import OWNER, Bot, eventually

RULES = f"""
channels: {{default: flow-alerts, war_room: war-room}}
approvers:
  - {{namespaces: ["*"], users: [{OWNER}]}}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}"


@pytest.fixture
def bot_kubeconfig(request: pytest.FixtureRequest, kube_cluster: KubeCluster) -> Path:
    """The bot's identity in the cluster: admin, or (param "powerless") a user with no RBAC."""
    if getattr(request, "param", "admin") == "powerless":
        return kube_cluster.user_kubeconfig("flow-bot-powerless")
    return kube_cluster.admin_kubeconfig


@pytest.fixture
def bot_redis(request: pytest.FixtureRequest) -> str | None:
    """No Redis by default; param "redis" gives the bot a fresh database of the bench's Redis."""
    if getattr(request, "param", None) == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return None


@pytest.fixture
def bot_rules(request: pytest.FixtureRequest) -> str:
    """The rules file the bot runs with; tests pass their own with indirect parametrization."""
    rules: str = getattr(request, "param", RULES)
    return rules


@pytest.fixture
async def bot_env(
    tmp_path: Path, database_url: str, new_topic: TopicFactory, kafka_broker: KafkaBroker,
    slack_standin: SlackStandin, kube_cluster: KubeCluster, clientintents_crd: str,
    bot_kubeconfig: Path, bot_redis: str | None, bot_rules: str,
) -> dict[str, str]:
    """The environment of ``chatbot serve`` pointed at the bench (HTTP port chosen per bot)."""
    topic = await new_topic(partitions=3)
    rules = tmp_path / "rules.yaml"
    rules.write_text(bot_rules)
    env = {
        **slack_standin.env(),
        "CHATBOT_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "CHATBOT_KAFKA_TOPIC": topic, "CHATBOT_KAFKA_DLQ_TOPIC": await new_topic(),
        "CHATBOT_KAFKA_GROUP": f"bot-{topic}", "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_KUBECONFIG": str(bot_kubeconfig),
        "CHATBOT_INTENTS_SINK": "kubernetes", "CHATBOT_CONFIG": str(rules),
        "CHATBOT_HTTP_HOST": "127.0.0.1",
    }
    if bot_redis:
        env["CHATBOT_REDIS_URL"] = bot_redis
    return env


@asynccontextmanager
async def running_bot(env: dict[str, str], slack: SlackStandin,
                      kube: ApiClient) -> AsyncIterator[Bot]:
    """One service instance, in-process, until the block ends (then a graceful stop)."""
    port = free_port()
    settings = settings_from_env({**env, "CHATBOT_HTTP_PORT": str(port)})
    async with open_service(settings) as service:
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))

        async def listening() -> bool:
            # The schema is upgraded after the port opens (so /readyz can say why a late
            # database is late); a story starts once it is there.
            return port_open(port) and service.database.up

        try:
            await eventually(listening, what="the bot's HTTP port and schema")
            yield Bot(service=service, slack=slack, bootstrap=env["CHATBOT_KAFKA_BOOTSTRAP"],
                      topic=env["CHATBOT_KAFKA_TOPIC"],
                      url=f"http://127.0.0.1:{port}/slack/events",
                      secret=env["CHATBOT_SLACK_SIGNING_SECRET"], kube=kube)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)


@pytest.fixture
async def bot(bot_env: dict[str, str], slack_standin: SlackStandin,
              kube_admin_client: ApiClient) -> AsyncIterator[Bot]:
    async with running_bot(bot_env, slack_standin, kube_admin_client) as started:
        yield started
