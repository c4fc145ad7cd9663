"""Decision rules, end to end through Kafka, the service and the Slack stand-in: a rule's
decision is applied with no card and reported in the digest, an auto_block is recorded as a
block, a risky flow matching auto_approve still gets its card, and --explain names the rule."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scenarios.conftest import RULES
from tests.scenarios.harness import Bot, eventually, flow_event

DECISION_RULES = RULES + """
decisions:
  - name: web-to-own-api
    action: auto_approve
    client_workloads: [web]
    same_namespace: true
    ports: ["8000-8999"]
    reasons: [no-intent, new-connection]
    severities: [low, medium]
  - name: no-telnet
    action: auto_block
    ports: [23]
  - name: web-anything-else
    action: auto_approve
    client_workloads: [web]
    severities: [low, medium]
    reasons: [no-intent]
    same_namespace: true
digest: {every: 1s}
escalation: {compliance_labels: {compliance: [pci]}}
"""

with_rules = pytest.mark.parametrize("bot_rules", [DECISION_RULES], indirect=True)


@with_rules
async def test_an_auto_approved_flow_is_applied_with_no_card_and_appears_in_the_digest(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, target="game-api", port=8080))

    async def applied() -> bool:
        rows = await bot.anomalies()
        return len(rows) == 1 and rows[0].state == "applied"
    await eventually(applied, what="the rule's approval applied")
    [anomaly] = await bot.anomalies()
    assert anomaly.decided_by == "system" and anomaly.auto_rule == "web-to-own-api"
    [intents] = await bot.client_intents(kube_namespace)
    assert {"kubernetes": {"name": "game-api", "kind": "Deployment"}} in \
        intents["spec"]["targets"]
    assert ("system", "approve", "ok") in await bot.audit(anomaly.id)

    async def digested() -> bool:
        return bool((await bot.anomaly(anomaly.id)).digested_at)
    await eventually(digested, what="the digest")
    [digest] = bot.slack.messages("flow-alerts")  # the digest is the channel's one message
    shown = json.dumps(digest.blocks)
    assert "web-to-own-api" in shown and anomaly.id[:8] in shown and "1 approved" in shown
    assert anomaly.slack_ts is None


@with_rules
async def test_auto_block_records_a_block_and_posts_no_card(
        bot: Bot, kube_namespace: str) -> None:
    await bot.send(flow_event(client_ns=kube_namespace, target="old-box", port=23))

    async def blocked() -> bool:
        rows = await bot.anomalies()
        return len(rows) == 1 and rows[0].state == "blocked"
    await eventually(blocked, what="the auto block")
    [anomaly] = await bot.anomalies()
    assert anomaly.auto_rule == "no-telnet"
    assert ("system", "block", "ok") in await bot.audit(anomaly.id)
    await eventually(lambda: _digested(bot, anomaly.id), what="the digest")
    assert [m for m in bot.slack.messages("flow-alerts") if "no-telnet" not in str(m.blocks)] \
        == []
    assert await bot.client_intents(kube_namespace) == []


@with_rules
async def test_a_risky_flow_matching_auto_approve_still_gets_a_card(
        bot: Bot, kube_namespace: str) -> None:
    event = flow_event(client_ns=kube_namespace, target="game-api", port=8080)
    event["client"]["labels"] = {"compliance": "pci"}  # risky: a compliance workload
    await bot.send(event)
    [anomaly] = await bot.card_posted()
    assert anomaly.state in ("pending", "escalated") and anomaly.auto_rule is None
    assert ("system", "triage", "require_approval") in await bot.audit(anomaly.id)
    await asyncio.sleep(1.5)  # a digest pass has run: nothing to report
    assert len(bot.slack.messages("flow-alerts")) == 1


async def _digested(bot: Bot, anomaly_id: str) -> bool:
    return bool((await bot.anomaly(anomaly_id)).digested_at)


def test_explain_names_the_deciding_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(DECISION_RULES)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(flow_event(client_ns="shop", target="legacy", port=23)))
    done = subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "check-config", "--rules-only", "--explain",
         str(event)],
        env={"CHATBOT_CONFIG": str(rules), "PATH": "/usr/bin"}, capture_output=True,
        text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "deciding rule: no-telnet" in done.stdout
    assert "outcome: auto_block" in done.stdout
    assert "skipped web-to-own-api: port 23 is not in 8000-8999" in done.stdout


def test_check_config_refuses_a_rule_that_could_auto_approve_a_risky_flow(
        tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES + "decisions:\n  - {name: yolo, action: auto_approve}\n")
    done = subprocess.run([sys.executable, "-m", "chatbot.cli", "check-config", "--rules-only"],
                          env={"CHATBOT_CONFIG": str(rules), "PATH": "/usr/bin"},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "'yolo' could auto-approve high or critical severity" in done.stderr
