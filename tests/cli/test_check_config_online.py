"""``chatbot check-config --online`` against the bench: the real Slack stand-in, Kafka,
PostgreSQL and kube-apiserver. A configuration that works passes; a token Slack refuses, a
channel that is not there, an identity RBAC refuses and dependencies that do not answer each
fail with exit code 2 and one line naming the setting."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from testbench.kube import KubeCluster
from testbench.process import free_port
from testbench.slack import SlackStandin

pytestmark = pytest.mark.bench

RULES = """
channels: {default: flow-alerts, war_room: war-room}
routes:
  - {namespaces: ["payments-*"], channel: ROUTED}
approvers:
  - {namespaces: ["*"], users: [U0OWNER]}
"""


@dataclass
class Run:
    code: int
    out: str
    err: str

    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error: ")]


async def check_online(env: dict[str, str], *args: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatbot.cli", "check-config", "--online", *args,
        env={"PATH": "/usr/bin:/bin", **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def working(tmp_path: Path, slack_standin: SlackStandin, kafka_broker: KafkaBroker,
                  new_topic: TopicFactory, postgres_url: str, kube_cluster: KubeCluster,
                  clientintents_crd: str) -> dict[str, str]:
    slack_standin.add_channel("payments-flows")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("ROUTED", "payments-flows"))
    return {**slack_standin.env(), "CHATBOT_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
            "CHATBOT_KAFKA_TOPIC": await new_topic(), "CHATBOT_KAFKA_DLQ_TOPIC": await new_topic(),
            "CHATBOT_DATABASE_URL": postgres_url, "CHATBOT_INTENTS_SINK": "kubernetes",
            "CHATBOT_KUBECONFIG": str(kube_cluster.admin_kubeconfig),
            "CHATBOT_CONFIG": str(rules)}


async def test_a_configuration_that_works_passes_every_live_check(
        working: dict[str, str], kafka_broker: KafkaBroker) -> None:
    run = await check_online(working)
    assert run.code == 0, run.err
    for line in ("ok: Slack accepts the bot token: bot flowbot in Flow Bench",
                 "ok: channels.default: #flow-alerts exists and the bot is in it",
                 "ok: routes[0].channel: #payments-flows exists and the bot is in it",
                 f"ok: Kafka answers at {kafka_broker.bootstrap}",
                 f"ok: CHATBOT_KAFKA_TOPIC: topic {working['CHATBOT_KAFKA_TOPIC']} exists",
                 "ok: the database answers at 127.0.0.1:",
                 "ok: this identity may get, list, create, update, patch, watch "
                 "clientintents.k8s.otterize.com in every namespace",
                 "check-config: ok"):
        assert line in run.out, (line, run.out)
    # A fresh database has no schema yet: worth a word, not a failure (serve migrates).
    assert "warning: the database schema is at nothing yet" in run.err


async def test_a_token_slack_refuses_fails(working: dict[str, str]) -> None:
    run = await check_online({**working, "CHATBOT_SLACK_BOT_TOKEN": "xoxb-revoked-0000"})
    assert run.code == 2
    assert run.errors() == ["error: Slack refused CHATBOT_SLACK_BOT_TOKEN (invalid_auth)"]
    assert "xoxb-revoked" not in run.out + run.err


async def test_a_channel_that_does_not_exist_fails(working: dict[str, str],
                                                   tmp_path: Path) -> None:
    rules = tmp_path / "missing.yaml"
    rules.write_text(RULES.replace("ROUTED", "payments-nowhere"))
    run = await check_online(working, "--config", str(rules))
    assert run.code == 2
    assert run.errors() == ["error: routes[0].channel: channel #payments-nowhere does not "
                            "exist in the workspace, or the bot cannot see it (a private "
                            "channel it is not in)"]


async def test_an_identity_rbac_refuses_fails_naming_the_verbs(
        working: dict[str, str], kube_cluster: KubeCluster) -> None:
    nobody = await asyncio.to_thread(kube_cluster.user_kubeconfig, "nobody-in-particular")
    run = await check_online({**working, "CHATBOT_KUBECONFIG": str(nobody)})
    assert run.code == 2
    assert run.errors() == [
        "error: CHATBOT_INTENTS_SINK: this identity may not get, list, create, update, patch, "
        "watch clientintents.k8s.otterize.com in every namespace; the sink needs get, list, "
        "create, update, patch, watch (the chart's RBAC grants exactly these)"]


async def test_a_hubble_flows_topic_is_checked_with_the_owner_lookups_it_needs(
        working: dict[str, str], new_topic: TopicFactory, tmp_path: Path) -> None:
    flows = await new_topic()
    run = await check_online({**working, "CHATBOT_KAFKA_FLOWS_TOPIC": flows})
    assert run.code == 0, run.err
    for line in (f"ok: CHATBOT_KAFKA_FLOWS_TOPIC: topic {flows} exists",
                 "ok: this identity may get pods in every namespace",
                 "ok: this identity may get replicasets.apps in every namespace",
                 "ok: this identity may get jobs.batch in every namespace"):
        assert line in run.out, (line, run.out)
    # The directory sink writes files, but the flows' owners still come from the cluster.
    files = await check_online({**working, "CHATBOT_KAFKA_FLOWS_TOPIC": flows,
                                "CHATBOT_INTENTS_SINK": f"directory:{tmp_path / 'intents'}"})
    assert files.code == 0, files.err
    assert "ok: this identity may get pods in every namespace" in files.out
    assert "clientintents" not in files.out
    missing = await check_online({**working, "CHATBOT_KAFKA_FLOWS_TOPIC": "no-such-flows"})
    assert missing.code == 2
    assert missing.errors() == ["error: CHATBOT_KAFKA_FLOWS_TOPIC: topic no-such-flows does "
                                "not exist (serve would wait for it)"]


async def test_dependencies_that_do_not_answer_are_all_named_in_one_run(
        working: dict[str, str]) -> None:
    kafka, database = free_port(), free_port()
    run = await check_online({
        **working, "CHATBOT_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
        "CHATBOT_DATABASE_URL": f"postgresql+asyncpg://bot:hunter2@127.0.0.1:{database}/bot"})
    assert run.code == 2
    assert run.errors() == [
        f"error: CHATBOT_KAFKA_BOOTSTRAP: cannot reach Kafka at 127.0.0.1:{kafka}: no broker "
        "answered",
        f"error: CHATBOT_DATABASE_URL: cannot reach the database at 127.0.0.1:{database} "
        f"(postgresql+asyncpg://bot:***@127.0.0.1:{database}/bot): connection refused"]
    assert "hunter2" not in run.out + run.err and "Traceback" not in run.err


async def test_incident_channels_without_the_scope_to_create_them_fail(
        working: dict[str, str], slack_standin: SlackStandin, tmp_path: Path) -> None:
    slack_standin.scopes = "chat:write,channels:read,groups:read,channels:history," \
        "groups:history,usergroups:read"  # the manifest as shipped: no channels:manage
    rules = tmp_path / "incidents.yaml"
    rules.write_text(RULES.replace("ROUTED", "payments-flows")
                     + "escalation: {incident_channel: create}\n")
    run = await check_online(working, "--config", str(rules))
    assert run.code == 2
    assert run.errors() == ["error: escalation.incident_channel is create, but the bot token "
                            "lacks the channels:manage scope (add it to the Slack app and "
                            "reinstall)"]
