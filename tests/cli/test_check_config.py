"""``chatbot check-config`` as a CI gate: a configuration that cannot work exits 2 with one
line per problem naming the key and why; one that can work exits 0. ``serve`` refuses the
same configurations with the same lines — all of them in one run, before it creates anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHATBOT = [sys.executable, "-m", "chatbot.cli"]
GOOD_RULES = """
channels: {default: flow-alerts, war_room: sec-war-room}
routes:
  - {namespaces: ["payments-*"], channel: payments-flows}
approvers:
  - {namespaces: ["payments-*", "pci-*"], users: [U0PAYLEAD, U0PAYDEP]}
  - {namespaces: ["*"], users: [U0PLATFORM]}
escalation: {pending_timeout: 30m}
quorum:
  - {namespaces: ["pci-*"], approvals: 2}
"""


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHATBOT, *args], capture_output=True, text=True, timeout=60,
                          check=False, cwd=cwd, env={"PATH": "/usr/bin:/bin", **env})


def working_env(tmp_path: Path, rules: str = GOOD_RULES) -> dict[str, str]:
    """Settings serve could start with (offline): every required one, nothing cluster-bound."""
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    return {"CHATBOT_KAFKA_BOOTSTRAP": "kafka-0.kafka:9092,kafka-1.kafka:9092",
            "CHATBOT_SLACK_BOT_TOKEN": "xoxb-1-2-abc", "CHATBOT_SLACK_SIGNING_SECRET": "s3cr3t",
            "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "CHATBOT_INTENTS_SINK": f"directory:{tmp_path / 'intents'}",
            "CHATBOT_CONFIG": str(path)}


def test_a_configuration_that_can_work_passes(tmp_path: Path) -> None:
    done = run(["check-config"], working_env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "check-config: ok" in done.stdout and done.stderr == ""
    assert not (tmp_path / "intents").exists() and not (tmp_path / "bot.db").exists()


RULE_CASES = {
    "no approver rules at all": (
        "channels: {default: flow-alerts}\napprovers: []\n",
        ["approvers is empty", "nobody may approve any flow"]),
    "an upper-case namespace pattern": (
        "channels: {default: a}\napprovers: [{namespaces: [Payments-*], users: [U0A]}]\n",
        ["approvers[0].namespaces: 'Payments-*'", "upper-case"]),
    "a regular expression for a pattern": (
        "channels: {default: a}\napprovers: [{namespaces: ['payments-.*'], users: [U0A]}]\n",
        ["approvers[0].namespaces: 'payments-.*'", "regular expression", "shell-style globs"]),
    "a / in a pattern": (
        "channels: {default: a}\nroutes: [{namespaces: [payments/web], channel: b}]\n"
        "approvers: [{namespaces: ['*'], users: [U0A]}]\n",
        ["routes[0].namespaces: 'payments/web'", "'/'"]),
    "a space in a pattern": (
        "channels: {default: a}\napprovers: [{namespaces: ['payments *'], users: [U0A]}]\n",
        ["approvers[0].namespaces: 'payments *'", "space"]),
    "an approver rule shadowed by an earlier *": (
        "channels: {default: a}\napprovers:\n  - {namespaces: ['*'], users: [U0A]}\n"
        "  - {namespaces: [payments-*], users: [U0B]}\n",
        ["approvers[1] (payments-*) is never used", "approvers[0] matches every namespace"]),
    "a rule with no users and no groups": (
        "channels: {default: a}\napprovers: [{namespaces: [payments-*]}, "
        "{namespaces: ['*'], users: [U0A]}]\n",
        ["approvers[0] names no users and no groups", "nobody could approve for payments-*"]),
    "a quorum larger than its approvers": (
        "channels: {default: a}\napprovers: [{namespaces: [pci-*], users: [U0A]}, "
        "{namespaces: ['*'], users: [U0B]}]\nquorum: [{namespaces: [pci-*], approvals: 2}]\n",
        ["quorum[0] asks for 2 distinct approvals in 'pci-*'", "approvers[0]",
         "only 1 user(s)"]),
    "pending_timeout: 0s": (
        "channels: {default: a}\napprovers: [{namespaces: ['*'], users: [U0A]}]\n"
        "escalation: {pending_timeout: 0s}\n",
        ["escalation.pending_timeout must be longer than 0", "escalate the moment it arrives"]),
}


@pytest.mark.parametrize("case", RULE_CASES, ids=list(RULE_CASES))
def test_a_rules_file_that_cannot_work_fails_naming_the_key(tmp_path: Path, case: str) -> None:
    rules, expected = RULE_CASES[case]
    done = run(["check-config"], working_env(tmp_path, rules), tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for fragment in expected:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in done.stderr


SETTING_CASES = {
    "no rules file": ({"CHATBOT_CONFIG": ""}, ["CHATBOT_CONFIG is not set",
                                               "nobody may approve"]),
    "a MySQL database": ({"CHATBOT_DATABASE_URL": "mysql://bot:pw@db/chatbot"},
                         ["CHATBOT_DATABASE_URL: 'mysql' is not supported",
                          "postgresql+asyncpg://"]),
    "a bootstrap without a port": ({"CHATBOT_KAFKA_BOOTSTRAP": "kafka-0.kafka"},
                                   ["CHATBOT_KAFKA_BOOTSTRAP: 'kafka-0.kafka' has no port"]),
    "the Kubernetes sink without a kubeconfig outside a cluster": (
        {"CHATBOT_INTENTS_SINK": "kubernetes"},
        ["CHATBOT_INTENTS_SINK=kubernetes needs CHATBOT_KUBECONFIG",
         "in-cluster configuration"]),
    "a kubeconfig that is not there": (
        {"CHATBOT_INTENTS_SINK": "kubernetes", "CHATBOT_KUBECONFIG": "/nonexistent/kubeconfig"},
        ["CHATBOT_KUBECONFIG: /nonexistent/kubeconfig is not a readable file"]),
    "no Kafka": ({"CHATBOT_KAFKA_BOOTSTRAP": ""}, ["CHATBOT_KAFKA_BOOTSTRAP is not set"]),
    "no Slack bot token": ({"CHATBOT_SLACK_BOT_TOKEN": ""},
                           ["CHATBOT_SLACK_BOT_TOKEN is not set"]),
    "a user token instead of a bot token": ({"CHATBOT_SLACK_BOT_TOKEN": "xoxp-1-2"},
                                            ["CHATBOT_SLACK_BOT_TOKEN must be a bot token"]),
    "no signing secret": ({"CHATBOT_SLACK_SIGNING_SECRET": ""},
                          ["CHATBOT_SLACK_SIGNING_SECRET is not set"]),
    "SASL without credentials": ({"CHATBOT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
                                 ["SASL_SSL needs CHATBOT_KAFKA_SASL_USERNAME"]),
}


@pytest.mark.parametrize("case", SETTING_CASES, ids=list(SETTING_CASES))
def test_settings_that_cannot_work_fail_naming_the_variable(tmp_path: Path, case: str) -> None:
    changes, expected = SETTING_CASES[case]
    done = run(["check-config"], {**working_env(tmp_path), **changes}, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for fragment in expected:
        assert fragment in errors[0], errors[0]


def test_config_flag_wins_over_the_environment(tmp_path: Path) -> None:
    env = working_env(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text("channels: {default: elsewhere}\napprovers: [{namespaces: ['*'], "
                     "users: [U0A]}]\n")
    done = run(["check-config", "--config", str(other)], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"rules file {other}: default channel #elsewhere" in done.stdout


def test_rules_only_checks_a_rules_file_without_any_secrets(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD_RULES)
    assert run(["check-config", "--rules-only", "--config", str(rules)], {},
               tmp_path).returncode == 0
    rules.write_text("channels: {default: a}\napprovers: []\n")
    done = run(["check-config", "--rules-only", "--config", str(rules)], {}, tmp_path)
    assert done.returncode == 2 and "approvers is empty" in done.stderr


def test_serve_lists_every_missing_setting_at_once_and_creates_nothing(tmp_path: Path) -> None:
    done = run(["serve"], {}, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    for variable in ("CHATBOT_KAFKA_BOOTSTRAP", "CHATBOT_SLACK_BOT_TOKEN",
                     "CHATBOT_SLACK_SIGNING_SECRET", "CHATBOT_CONFIG", "CHATBOT_INTENTS_SINK"):
        assert any(line.startswith("chatbot: configuration error: " + variable)
                   for line in lines), (variable, done.stderr)
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [], "serve created files before refusing to start"


def test_serve_refuses_what_check_config_refuses(tmp_path: Path) -> None:
    rules, expected = RULE_CASES["an approver rule shadowed by an earlier *"]
    done = run(["serve"], working_env(tmp_path, rules), tmp_path)
    assert done.returncode == 2
    assert expected[0] in done.stderr and not (tmp_path / "bot.db").exists()
