"""The ``chatbot`` command as a person meets it: help, config checks, clear errors."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.config.catalog import CHECK, MIGRATE, PRODUCE, SERVE, VARIABLES, variables_for
from chatbot.config.settings import GitSettings, settings_from_env
from chatbot.logs import JsonFormatter
from testbench.process import free_port

CHATBOT = [sys.executable, "-m", "chatbot.cli"]


def chatbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHATBOT, *args], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_help_lists_every_command() -> None:
    shown = chatbot("--help").stdout
    for command in ("serve", "migrate", "demo", "produce", "check-config"):
        assert command in shown


def test_check_config_names_the_bad_key_and_fails(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("channels: {default: flow-alerts}\napprovers: [{users: [U0OWNER]}]\n")
    done = chatbot("check-config", "--rules-only", env={"CHATBOT_CONFIG": str(rules)})
    assert done.returncode == 2
    assert "approvers[0].namespaces" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_without_kafka_says_what_is_missing() -> None:
    done = chatbot("serve")
    assert done.returncode == 2 and "CHATBOT_KAFKA_BOOTSTRAP" in done.stderr


def test_logs_are_json_and_never_carry_tokens() -> None:
    record = logging.LogRecord("chatbot", logging.INFO, __file__, 1,
                               "calling slack with xoxb-123-456-abc and "
                               "postgresql+asyncpg://bot:hunter2@db/chatbot", None, None)
    record.anomaly_id = "a1b2"
    line = json.loads(JsonFormatter().format(record))
    assert line["anomaly_id"] == "a1b2" and line["level"] == "info"
    assert "xoxb-123" not in line["msg"] and "hunter2" not in line["msg"]


@pytest.mark.parametrize("command", [SERVE, MIGRATE, CHECK, PRODUCE])
def test_help_lists_the_settings_each_command_reads_with_their_defaults(command: str) -> None:
    shown = chatbot(command, "--help").stdout
    for variable in variables_for(command):
        assert variable.name in shown, (command, variable.name)
    others = {v.name for v in VARIABLES} - {v.name for v in variables_for(command)}
    assert not any(re.search(rf"\b{name}\b", shown) for name in others), command
    if command == MIGRATE:
        assert "CHATBOT_DATABASE_URL  (default sqlite+aiosqlite:///chatbot.db, secret)" in shown
    if command in (SERVE, CHECK):
        assert "--config FILE" in shown and "CHATBOT_KAFKA_BOOTSTRAP  (required)" in shown


def test_the_catalog_defaults_are_the_defaults_settings_use() -> None:
    settings = settings_from_env({})
    defaults = {v.name: v.default for v in VARIABLES if not v.default.startswith("(")}
    assert defaults == {
        "CHATBOT_KAFKA_TOPIC": settings.kafka.topic, "CHATBOT_KAFKA_GROUP": settings.kafka.group,
        "CHATBOT_KAFKA_DLQ_TOPIC": settings.kafka.dlq_topic,
        "CHATBOT_KAFKA_SECURITY_PROTOCOL": settings.kafka.security_protocol,
        "CHATBOT_KAFKA_SASL_MECHANISM": "PLAIN",
        "CHATBOT_DATABASE_URL": settings.database_url.reveal(),
        "CHATBOT_SLACK_API_URL": settings.slack.api_url,
        "CHATBOT_INTENTS_SINK": settings.intents_sink,
        "CHATBOT_INTENTS_FORMAT": settings.intents_format,
        "CHATBOT_HTTP_HOST": settings.http_host, "CHATBOT_HTTP_PORT": str(settings.http_port),
        "CHATBOT_LOG_LEVEL": settings.log_level,
        "CHATBOT_DASHBOARD_HOST": settings.dashboard_host,
        "CHATBOT_GIT_BASE_BRANCH": GitSettings.base_branch,
        "CHATBOT_GIT_FOLDER": GitSettings.folder,
        "CHATBOT_GIT_BATCH_SECONDS": f"{GitSettings.batch_seconds:g}",
        "CHATBOT_GIT_POLL_SECONDS": f"{GitSettings.poll_seconds:g}",
        "CHATBOT_HUBBLE_CLUSTER": settings.hubble_cluster,
        "CHATBOT_HUBBLE_INCLUDE_DNS": str(settings.hubble_include_dns).lower(),
    }


def test_produce_to_a_closed_broker_says_so_in_one_line() -> None:
    port = free_port()  # nothing listens there
    done = chatbot("produce", "--samples", env={"CHATBOT_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"chatbot produce: cannot reach Kafka at 127.0.0.1:{port}: no broker answered"]


@pytest.mark.parametrize(("host", "reason"), [("127.0.0.1", "connection refused"),
                                              ("db.invalid", "host name not known")])
def test_migrate_against_an_unreachable_database_says_so_in_one_line(host: str,
                                                                     reason: str) -> None:
    port = free_port()
    url = f"postgresql+asyncpg://bot:hunter2@{host}:{port}/chatbot"
    done = chatbot("migrate", env={"CHATBOT_DATABASE_URL": url})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"chatbot migrate: cannot reach the database at {host}:{port} "
        f"(postgresql+asyncpg://bot:***@{host}:{port}/chatbot): {reason}"]
    assert "hunter2" not in done.stderr + done.stdout


def test_migrate_refuses_a_database_it_cannot_drive() -> None:
    done = chatbot("migrate", env={"CHATBOT_DATABASE_URL": "mysql://bot:pw@db/chatbot"})
    assert done.returncode == 2 and "'mysql' is not supported" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_readme_settings_table_lists_exactly_the_catalog() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Settings (environment variables)", 1)[1].split("\n#", 1)[0]
    named = set(re.findall(r"`(CHATBOT_[A-Z_]+)`", table))
    assert named == {v.name for v in VARIABLES}


def test_a_flows_topic_that_is_also_the_anomaly_topic_is_refused() -> None:
    env = {"CHATBOT_KAFKA_BOOTSTRAP": "127.0.0.1:9092", "CHATBOT_KAFKA_TOPIC": "flows",
           "CHATBOT_KAFKA_FLOWS_TOPIC": "flows", "CHATBOT_HUBBLE_INCLUDE_DNS": "sometimes"}
    done = chatbot("check-config", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "CHATBOT_HUBBLE_INCLUDE_DNS must be true or false, not 'sometimes'" in done.stderr
    done = chatbot("check-config", env={**env, "CHATBOT_HUBBLE_INCLUDE_DNS": "true"})
    assert done.returncode == 2
    assert "CHATBOT_KAFKA_FLOWS_TOPIC must differ from CHATBOT_KAFKA_TOPIC" in done.stderr
