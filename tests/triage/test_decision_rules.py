"""Decision rules: the first matching rule decides, a risky flow is never auto-approved, and a
rule set that could auto-approve a risky flow class is refused before any flow arrives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chatbot.config.decision_rules import RuleAction
from chatbot.config.load import rules_from_document
from chatbot.config.rules import Rules
from chatbot.decision_rules import is_risky, refuse_risky_auto_approvals, risky_classes, ruling
from chatbot.errors import ConfigError
from chatbot.events.model import (
    FlowEvent,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    Workload,
)

SAFE_APPROVE: dict[str, Any] = {"name": "shop-web-own-api", "action": "auto_approve",
                "client_namespaces": ["shop-*"], "client_workloads": ["web*"],
                "same_namespace": True, "target_kinds": ["Deployment"],
                "ports": [8080, "9000-9100"], "protocols": ["tcp"],
                "reasons": ["no-intent", "new-connection"], "severities": ["low", "medium"]}


def rules(*decisions: dict[str, Any], **escalation: object) -> Rules:
    return rules_from_document({"channels": {"default": "flow-alerts"},
                                "decisions": list(decisions), "escalation": escalation})


def flow(*, ns: str = "shop-eu", name: str = "web", target: Target | None = None,
         severity: Severity = Severity.MEDIUM, reason: Reason = Reason.NO_INTENT,
         labels: dict[str, str] | None = None) -> FlowEvent:
    return FlowEvent(
        event_id="e1", observed_at=datetime(2026, 11, 23, tzinfo=UTC), cluster="prod",
        client=Workload(name=name, namespace=ns, kind="Deployment", labels=labels or {}),
        target=target or KubernetesTarget(name="api", namespace=ns, kind="Deployment",
                                          port=8080, protocol="TCP"),
        reason=reason, severity=severity)


def test_a_flow_matching_a_safe_auto_approve_rule_is_approved_by_that_rule() -> None:
    decided = ruling(flow(), rules(SAFE_APPROVE))
    assert decided.action is RuleAction.AUTO_APPROVE and decided.automatic
    assert decided.rule is not None and decided.rule.name == "shop-web-own-api"
    assert "client namespace shop-eu" in decided.why and "port 8080" in decided.why


def test_the_first_matching_rule_wins_and_skipped_rules_say_why() -> None:
    block = {"name": "no-telnet", "action": "auto_block", "ports": [23]}
    manual = {"name": "payments-by-hand", "action": "require_approval",
              "client_namespaces": ["payments-*"]}
    rs = rules(block, manual, SAFE_APPROVE)
    decided = ruling(flow(), rs)
    assert decided.rule is not None and decided.rule.name == "shop-web-own-api"
    assert decided.skipped == ("no-telnet: port 8080 is not in 23",
                               "payments-by-hand: client namespace shop-eu is not one of "
                               "payments-*")
    telnet = flow(target=KubernetesTarget(name="api", namespace="shop-eu", kind="Deployment",
                                          port=23, protocol="TCP"))
    assert ruling(telnet, rs).action is RuleAction.AUTO_BLOCK


def test_no_match_means_an_approver_decides() -> None:
    decided = ruling(flow(ns="other"), rules(SAFE_APPROVE))
    assert decided.action is RuleAction.REQUIRE_APPROVAL and decided.rule is None


@pytest.mark.parametrize(("case", "changes"), [
    ("port range", {"target": KubernetesTarget("api", "shop-eu", "Deployment", 9050, "TCP")}),
    ("low severity", {"severity": Severity.LOW}),
])
def test_criteria_match_ranges_and_lists(case: str, changes: dict[str, Any]) -> None:
    assert ruling(flow(**changes), rules(SAFE_APPROVE)).action is RuleAction.AUTO_APPROVE, case


@pytest.mark.parametrize(("case", "changes", "miss"), [
    ("other workload", {"name": "batch"}, "client workload batch"),
    ("udp", {"target": KubernetesTarget("api", "shop-eu", "Deployment", 8080, "UDP")},
     "protocol UDP"),
    ("statefulset", {"target": KubernetesTarget("api", "shop-eu", "StatefulSet", 8080, "TCP")},
     "target kind"),
    ("port outside", {"target": KubernetesTarget("api", "shop-eu", "Deployment", 9200, "TCP")},
     "port 9200"),
    ("kafka", {"target": KafkaTarget("kafka", "shop-eu", "orders", "produce")}, "target kind"),
])
def test_each_criterion_can_reject(case: str, changes: dict[str, Any], miss: str) -> None:
    decided = ruling(flow(**changes), rules(SAFE_APPROVE))
    assert decided.action is RuleAction.REQUIRE_APPROVAL, case
    assert miss in decided.skipped[0]


@pytest.mark.parametrize(("case", "risky"), [
    ("high severity", flow(severity=Severity.HIGH)),
    ("critical severity", flow(severity=Severity.CRITICAL)),
    ("internet", flow(target=InternetTarget("api.stripe.com", None, 443, "TCP"))),
    ("raw ip", flow(target=InternetTarget(None, "203.0.113.9", 443, "TCP"))),
    ("cross namespace", flow(target=KubernetesTarget("db", "core", "Deployment", 5432, "TCP"))),
    ("denied by policy", flow(reason=Reason.DENIED_BY_POLICY)),
    ("compliance namespace", flow(ns="pci-shop")),
    ("compliance label", flow(labels={"compliance": "pci"})),
])
def test_a_risky_flow_matching_auto_approve_still_needs_an_approver(
        case: str, risky: FlowEvent) -> None:
    # a deliberately loose rule, as a run-time guard must hold even if check-config was skipped
    loose = rules({"name": "everything", "action": "auto_approve"},
                  compliance_namespaces=["pci-*"], compliance_labels={"compliance": ["pci"]})
    assert is_risky(risky, loose), case
    decided = ruling(risky, loose)
    assert decided.action is RuleAction.REQUIRE_APPROVAL, case
    assert decided.rule is not None and "never auto-approved" in decided.why


def test_a_risky_flow_may_still_be_auto_blocked() -> None:
    decided = ruling(flow(severity=Severity.CRITICAL),
                     rules({"name": "block-all", "action": "auto_block"}))
    assert decided.action is RuleAction.AUTO_BLOCK


def test_the_safe_rule_passes_the_static_check() -> None:
    refuse_risky_auto_approvals(rules(SAFE_APPROVE,
                                      {"name": "block", "action": "auto_block"}))


@pytest.mark.parametrize(("case", "change", "named"), [
    ("no severity limit", {"severities": None}, "severity"),
    ("high allowed", {"severities": ["medium", "high"]}, "severity"),
    ("any reason", {"reasons": None}, "reasons"),
    ("cross namespace", {"same_namespace": False}, "cross-namespace"),
    ("internet", {"target_kinds": ["internet"], "same_namespace": False}, "internet"),
    ("compliance", {"client_namespaces": ["*"]}, "compliance"),
])
def test_check_config_refuses_an_auto_approve_rule_that_admits_a_risky_class(
        case: str, change: dict[str, object], named: str) -> None:
    rule = {key: value for key, value in {**SAFE_APPROVE, **change}.items() if value is not None}
    rs = rules(rule, compliance_namespaces=["pci-*"])
    assert any(named in what for what in risky_classes(rs.decisions[0], rs)), case
    with pytest.raises(ConfigError, match="shop-web-own-api"):
        refuse_risky_auto_approvals(rs)


@pytest.mark.parametrize(("rule", "message"), [
    ({"action": "auto_approve"}, "name is required"),
    ({"name": "x", "action": "approve"}, "action must be one of"),
    ({"name": "x", "action": "auto_block", "ports": ["70000"]}, "not a port"),
    ({"name": "x", "action": "auto_block", "severities": ["urgent"]}, "not one of"),
    ({"name": "x", "action": "auto_block", "colour": "red"}, "unknown key 'colour'"),
])
def test_a_bad_rule_names_the_bad_key(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rules(rule)


def test_two_rules_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="two rules are named"):
        rules({"name": "a", "action": "auto_block"}, {"name": "a", "action": "auto_block"})
