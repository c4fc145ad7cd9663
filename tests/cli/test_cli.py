"""The ``chatbot`` command as a person meets it: help, config checks, clear errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from chatbot.logs import JsonFormatter

CHATBOT = [sys.executable, "-m", "chatbot.cli"]


def chatbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHATBOT, *args], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_help_lists_every_command() -> None:
    shown = chatbot("--help").stdout
    for command in ("serve", "migrate", "demo", "produce", "check-config"):
        assert command in shown


def test_check_config_accepts_a_good_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("channels: {default: flow-alerts}\n"
                     "approvers: [{namespaces: ['*'], users: [U0OWNER]}]\n")
    done = chatbot("check-config", env={"CHATBOT_CONFIG": str(rules)})
    assert done.returncode == 0, done.stderr
    assert "default channel #flow-alerts" in done.stdout


def test_check_config_names_the_bad_key_and_fails(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("channels: {default: flow-alerts}\napprovers: [{users: [U0OWNER]}]\n")
    done = chatbot("check-config", env={"CHATBOT_CONFIG": str(rules)})
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
