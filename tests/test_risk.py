"""The risk rules, pure: which flows are risky by default, and what a rule file can ask."""

from __future__ import annotations

import pytest

from chatbot.config.load import rules_from_document
from chatbot.config.risk import DEFAULT_RISK
from chatbot.config.rules import Escalation
from chatbot.errors import ConfigError
from chatbot.events.model import InternetTarget, KafkaTarget, KubernetesTarget, Target, Workload
from chatbot.risk import Risk, assess

WEB = Workload(name="web", namespace="rps", kind="Deployment",
               labels={"app.kubernetes.io/name": "web", "compliance": "pci"})
GAMES = KubernetesTarget(name="game-api", namespace="rps", kind="Service", port=8080,
                         protocol="TCP")
ESCALATION = Escalation(compliance_namespaces=("pci-*",))


def risk(target: Target = GAMES, *, reason: str = "no-intent", severity: str = "low",
         client: Workload = WEB, rules: object = DEFAULT_RISK) -> Risk:
    assert isinstance(rules, tuple)
    return assess(client=client, target=target, reason=reason, severity=severity,
                  rules=rules, escalation=ESCALATION)


def test_a_benign_flow_is_not_risky() -> None:
    assert not risk().risky and risk().approvals == 1 and not risk().justification


def test_the_defaults_name_why_a_flow_is_risky() -> None:
    assert risk(severity="critical").reasons == ("severity high or critical",)
    segment = InternetTarget(domain="api.segment.io", ip=None, port=443, protocol="TCP")
    assert risk(segment).reasons == ("leaves the cluster",)
    raw = risk(InternetTarget(domain=None, ip="185.220.101.34", port=4444, protocol="TCP"))
    assert raw.reasons == ("leaves the cluster", "a raw IP address") and raw.justification
    kafka = KafkaTarget(name="kafka", namespace="kafka", topic="t", operation="produce")
    assert risk(kafka).reasons == ("crosses namespaces",)
    for reason in ("denied-by-policy", "would-be-denied"):
        assert risk(reason=reason).justification
    vault = KubernetesTarget(name="card-vault", namespace="pci-payments", kind="Service",
                             port=8443, protocol="TCP")
    pci = risk(vault)
    assert pci.reasons == ("crosses namespaces", "compliance scope") and pci.justification


def test_a_rules_file_can_ask_for_a_second_approver_by_namespace_or_label() -> None:
    rules = rules_from_document({
        "channels": {"default": "flows"},
        "risk": [{"name": "card data", "labels": {"compliance": ["pci"]},
                  "require": ["justification", "second-approver"]},
                 {"reason": "would-be-denied", "severity": ["high", "critical"]}],
        "enforcement": {"mesh": "istio", "kafka": True},
    })
    assessed = risk(rules=rules.risk)
    assert assessed == Risk(("card data",), justification=True, approvals=2)
    assert not risk(reason="would-be-denied", severity="low",
                    client=Workload("x", "rps", "Deployment"), rules=rules.risk).risky
    assert risk(reason="would-be-denied", severity="high", rules=rules.risk).reasons == (
        "card data", "risk[1]")
    assert rules.enforcement.mesh == "istio" and rules.enforcement.kafka
    assert not rules.enforcement.egress
    assert rules_from_document({"channels": {"default": "f"}, "risk": []}).risk == ()
    assert rules_from_document({"channels": {"default": "f"}}).risk == DEFAULT_RISK


@pytest.mark.parametrize(("risk_rules", "message"), [
    ([{"name": "all"}], "has no condition"),
    ([{"target": ["galaxy"]}], "'galaxy' is not one of internet, raw-ip, cross-namespace"),
    ([{"reason": ["no-intent"], "require": ["prayer"]}], "'prayer' is not one of"),
    ([{"severity": "high", "colour": "red"}], "unknown key 'colour'"),
    ({"severity": "high"}, "must be a list of risk rules"),
])
def test_a_bad_risk_rule_is_named(risk_rules: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rules_from_document({"channels": {"default": "f"}, "risk": risk_rules})


def test_a_bad_enforcement_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"enforcement\.mesh must be one of istio, linkerd"):
        rules_from_document({"channels": {"default": "f"}, "enforcement": {"mesh": "consul"}})
