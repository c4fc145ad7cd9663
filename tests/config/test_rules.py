"""The rules file: routing and approvers resolve by namespace; bad files name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.config.load import load_rules, rules_from_document
from chatbot.config.rules import Rules
from chatbot.config.settings import settings_from_env
from chatbot.errors import ConfigError

RULES = """
channels: {default: "#flow-alerts", war_room: sec-war-room}
routes:
  - {namespaces: ["payments-*", "pci-*"], channel: payments-flows}
approvers:
  - {namespaces: ["payments-*"], users: [U0PAYLEAD], groups: [S0PAYTEAM]}
  - {namespaces: ["*"], users: [U0PLATFORM]}
escalation: {pending_timeout: 15m}
"""


def test_namespaces_route_to_their_channel_and_approvers(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    rules = load_rules(path)
    assert rules.channel_for("payments-eu") == "payments-flows"
    assert rules.channel_for("rps") == "flow-alerts"
    assert rules.war_room_channel == "sec-war-room"
    assert rules.approvers_for("payments-eu").users == {"U0PAYLEAD"}
    assert rules.approvers_for("payments-eu").groups == {"S0PAYTEAM"}
    assert rules.approvers_for("rps").users == {"U0PLATFORM"}
    assert rules.escalation.pending_timeout_seconds == 900


def test_nobody_approves_a_namespace_no_rule_covers() -> None:
    rules = rules_from_document({"channels": {"default": "x"},
                                 "approvers": [{"namespaces": ["a-*"], "users": ["U0A"]}]})
    assert not rules.approvers_for("b")


@pytest.mark.parametrize(("doc", "named"), [
    ({"channels": {}}, "channels.default"),
    ({"channels": {"default": "x"}, "routs": []}, "'routs'"),
    ({"channels": {"default": "x"}, "approvers": [{"namespaces": ["*"], "users": ["bob"]}]},
     "approvers[0].users"),
    ({"channels": {"default": "x"}, "approvers": [{"users": ["U0A"]}]},
     "approvers[0].namespaces"),
    ({"channels": {"default": "x"}, "escalation": {"pending_timeout": "soon"}},
     "escalation.pending_timeout"),
    ({"channels": {"default": "x"}, "routes": [{"namespaces": ["a"]}]}, "routes[0].channel"),
])
def test_a_bad_rules_file_is_refused_naming_the_key(doc: object, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        rules_from_document(doc)


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("channels: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(path)


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = settings_from_env({"CHATBOT_SLACK_BOT_TOKEN": "xoxb-very-secret",
                                  "CHATBOT_SLACK_SIGNING_SECRET": "s3cr3t",
                                  "CHATBOT_DATABASE_URL": "postgresql+asyncpg://u:pw@h/db"})
    shown = repr(settings) + str(settings)
    assert "xoxb-very-secret" not in shown and "s3cr3t" not in shown and "pw@" not in shown
    assert settings.slack.bot_token and settings.slack.bot_token.reveal() == "xoxb-very-secret"


def test_bad_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="CHATBOT_INTENTS_SINK"):
        settings_from_env({"CHATBOT_INTENTS_SINK": "s3"})
    with pytest.raises(ConfigError, match="CHATBOT_HTTP_PORT"):
        settings_from_env({"CHATBOT_HTTP_PORT": "http"})


def test_escalation_hands_the_decision_to_the_war_room_unless_switched_off() -> None:
    def rules(**escalation: object) -> Rules:
        return rules_from_document({
            "channels": {"default": "x", "war_room": "war"},
            "escalation": {"war_room_approvers": {"users": ["U0SEC"]}, **escalation}})

    assert rules().war_room_decides
    assert not rules(namespace_approvers_decide_escalated=True).war_room_decides
    # Nobody to hand it to: the namespace's approvers keep deciding.
    assert not rules_from_document({"channels": {"default": "x", "war_room": "war"}}
                                   ).war_room_decides
    assert not rules_from_document({"channels": {"default": "x"}, "escalation": {
        "war_room_approvers": {"users": ["U0SEC"]}}}).war_room_decides
    with pytest.raises(ConfigError, match="namespace_approvers_decide_escalated"):
        rules(namespace_approvers_decide_escalated="yes")
