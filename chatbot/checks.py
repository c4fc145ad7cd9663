"""``chatbot check-config``: validate settings and the rules file without starting anything."""

from __future__ import annotations

from pathlib import Path

from chatbot.check_decisions import explain
from chatbot.config.load import load_rules
from chatbot.config.rules import Rules
from chatbot.config.settings import Settings
from chatbot.decision_rules import refuse_risky_auto_approvals


def check_config(settings: Settings, *, explain_event: Path | None = None) -> int:
    """Print what would be used; a ConfigError propagates and names the bad key."""
    problems: list[str] = []
    if not settings.kafka.bootstrap:
        problems.append("CHATBOT_KAFKA_BOOTSTRAP is not set (needed by serve)")
    if not settings.slack.bot_token:
        problems.append("CHATBOT_SLACK_BOT_TOKEN is not set (needed by serve)")
    if not settings.slack.signing_secret:
        problems.append("CHATBOT_SLACK_SIGNING_SECRET is not set (needed by serve)")
    if settings.config_path:
        rules = load_rules(settings.config_path)
        refuse_risky_auto_approvals(rules)
        print(f"rules file {settings.config_path}: ok — default channel #{rules.default_channel}"
              f", {len(rules.routes)} routes, {len(rules.approvers)} approver rules, "
              f"{len(rules.decisions)} decision rules")
    else:
        rules = Rules(default_channel="flow-alerts")
        print("no CHATBOT_CONFIG: every anomaly goes to #flow-alerts and nobody may approve")
    if explain_event is not None:
        print(explain(explain_event, rules))
    print(f"intents sink: {settings.intents_sink}; kafka topic: {settings.kafka.topic} "
          f"(dead letters: {settings.kafka.dlq_topic}); database: "
          f"{settings.database_url.reveal().split(':', 1)[0]}")
    for problem in problems:
        print(f"warning: {problem}")
    return 0
