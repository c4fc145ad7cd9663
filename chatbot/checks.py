"""``chatbot check-config``: would ``serve`` work with these settings and this rules file?
A CI gate: every problem is printed as one ``error:`` line naming its key and why, and any
error exits 2; ``--online`` also asks the live parts (``checks_online.py``). Nothing is
started or created.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from chatbot.check_decisions import explain
from chatbot.checks_online import Finding, online_findings
from chatbot.config.rules import Rules
from chatbot.config.settings import Settings
from chatbot.config.validate import in_cluster, problems_for_serve, rules_file_problems
from chatbot.decision_rules import refuse_risky_auto_approvals
from chatbot.errors import ConfigError
from chatbot.unreachable import database_location

FAILED = 2


async def check_config(settings: Settings, *, online: bool = False, rules_only: bool = False,
                       namespaces: Iterable[str] = (), explain_event: Path | None = None,
                       out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print what serve would use and every problem; 0 when there is none, else 2."""
    if rules_only:
        rules, problems = rules_file_problems(settings.config_path)
    else:
        problems, rules = problems_for_serve(settings, cluster_config=in_cluster())
    if rules is not None:
        problems += decision_problems(rules)
    findings = [Finding("error", problem) for problem in problems]
    _describe(settings, rules, rules_only=rules_only, out=out)
    if explain_event is not None and rules is not None:
        print(explain(explain_event, rules), file=out)
    if online and not rules_only:
        findings += await online_findings(settings, rules, namespaces=namespaces)
    for finding in findings:
        print(f"{finding.level}: {finding.text}", file=out if finding.level == "ok" else err)
    errors = sum(1 for finding in findings if finding.level == "error")
    if errors:
        print(f"check-config: {errors} problem{'s' if errors > 1 else ''}; serve would not "
              "work with this configuration", file=err)
        return FAILED
    print("check-config: ok" + ("" if online else " (offline checks; --online also asks "
                                "Slack, Kafka, the database and the apiserver)"), file=out)
    return 0


def decision_problems(rules: Rules) -> list[str]:
    """Decision rules that could auto-approve a risky flow (serve refuses them too)."""
    try:
        refuse_risky_auto_approvals(rules)
    except ConfigError as error:
        lead, *items = str(error).split("\n")
        return [f"decisions: {item.strip()} ({lead.rstrip(':')})" for item in items] or [lead]
    return []


def _describe(settings: Settings, rules: Rules | None, *, rules_only: bool,
              out: TextIO) -> None:
    if rules is not None:
        print(f"rules file {settings.config_path}: default channel #{rules.default_channel}, "
              f"{len(rules.routes)} routes, {len(rules.approvers)} approver rules, "
              f"{len(rules.quorum)} quorum rules, {len(rules.decisions)} decision rules",
              file=out)
    if rules_only:
        return
    kafka = settings.kafka
    print(f"kafka: {kafka.bootstrap or '(not set)'}, topic {kafka.topic} (dead letters: "
          f"{kafka.dlq_topic}), group {kafka.group}", file=out)
    print(f"database: {database_location(settings.database_url.reveal())}; intents sink: "
          f"{settings.intents_sink}; slack: "
          f"{'Socket Mode' if settings.slack.app_token else 'HTTP'} via {settings.slack.api_url}",
          file=out)
