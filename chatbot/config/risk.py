"""The risk rules and the output's enforcement facts, as plain data read from the rules file.

Risk rules say how careful an Approve must be: every matching rule makes Approve ask for a
confirmation, and a rule may also require a written justification or a second approver.
Without a ``risk:`` section the defaults below apply; ``risk: []`` switches them off.

    risk:
      - name: leaves the cluster
        target: [internet]            # internet | raw-ip | cross-namespace
      - name: denied by a policy
        reason: [denied-by-policy, would-be-denied]
        require: [justification]
      - name: payment data
        namespaces: ["pci-*"]         # client or target namespace
        labels: {compliance: [pci]}   # client labels
        require: [justification, second-approver]
    enforcement:                      # what the cluster enforces of a ClientIntents
      mesh: istio                     # istio | linkerd | none: HTTP paths and methods
      kafka: true                     # Otterize's Kafka integration: topics and operations
      egress: true                    # Otterize's egress support: internet targets

The conditions of one rule must all hold (any value of a list may match); ``compliance:
true`` matches the escalation section's compliance namespaces and labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatbot.errors import ConfigError

SEVERITIES = ("low", "medium", "high", "critical")
TARGET_KINDS = ("internet", "raw-ip", "cross-namespace")
REASONS = ("no-intent", "denied-by-policy", "would-be-denied", "new-connection")
REQUIREMENTS = ("justification", "second-approver")
MESHES = ("istio", "linkerd")
FORMATS = ("clientintents", "networkpolicy")


@dataclass(frozen=True, slots=True)
class RiskRule:
    name: str
    severities: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    namespaces: tuple[str, ...] = ()
    labels: tuple[tuple[str, frozenset[str]], ...] = ()
    compliance: bool = False
    justification: bool = False
    approvals: int = 1
    """2 when the rule asks for a second approver (the quorum of the namespace still counts)."""


@dataclass(frozen=True, slots=True)
class Enforcement:
    """What Approve really opens depends on the output and on what the cluster enforces."""

    format: str = "clientintents"
    mesh: str | None = None
    kafka: bool = False
    egress: bool = False


DEFAULT_RISK: tuple[RiskRule, ...] = (
    RiskRule("severity high or critical", severities=frozenset({"high", "critical"})),
    RiskRule("leaves the cluster", targets=frozenset({"internet"})),
    RiskRule("a raw IP address", targets=frozenset({"raw-ip"}), justification=True),
    RiskRule("crosses namespaces", targets=frozenset({"cross-namespace"})),
    RiskRule("denied by a policy", reasons=frozenset({"denied-by-policy", "would-be-denied"}),
             justification=True),
    RiskRule("compliance scope", compliance=True, justification=True),
)


def risk_rules(value: object, where: str) -> tuple[RiskRule, ...]:
    if value is None:
        return DEFAULT_RISK
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of risk rules")
    return tuple(_rule(item, f"{where}[{index}]") for index, item in enumerate(value))


def enforcement(value: object, where: str) -> Enforcement:
    doc = _mapping(value if value is not None else {}, where)
    _known(doc, {"mesh", "kafka", "egress"}, where)
    mesh = doc.get("mesh", "none")
    if mesh not in (*MESHES, "none", None):
        raise ConfigError(f"{where}.mesh must be one of istio, linkerd, none")
    for key in ("kafka", "egress"):
        if not isinstance(doc.get(key, False), bool):
            raise ConfigError(f"{where}.{key} must be true or false")
    return Enforcement(mesh=None if mesh in ("none", None) else str(mesh),
                       kafka=bool(doc.get("kafka", False)), egress=bool(doc.get("egress", False)))


def _rule(item: object, where: str) -> RiskRule:
    doc = _mapping(item, where)
    _known(doc, {"name", "severity", "target", "reason", "namespaces", "labels", "compliance",
                 "require"}, where)
    compliance = doc.get("compliance", False)
    if not isinstance(compliance, bool):
        raise ConfigError(f"{where}.compliance must be true or false")
    require = _words(doc.get("require"), REQUIREMENTS, f"{where}.require")
    rule = RiskRule(
        name=_name(doc.get("name"), where),
        severities=_words(doc.get("severity"), SEVERITIES, f"{where}.severity"),
        targets=_words(doc.get("target"), TARGET_KINDS, f"{where}.target"),
        reasons=_words(doc.get("reason"), REASONS, f"{where}.reason"),
        namespaces=_patterns(doc.get("namespaces"), f"{where}.namespaces"),
        labels=_labels(doc.get("labels"), f"{where}.labels"),
        compliance=compliance,
        justification="justification" in require,
        approvals=2 if "second-approver" in require else 1,
    )
    if not (rule.severities or rule.targets or rule.reasons or rule.namespaces or rule.labels
            or rule.compliance):
        raise ConfigError(f"{where} has no condition (severity, target, reason, namespaces, "
                          "labels or compliance); a rule for every flow is not a risk rule")
    return rule


def _name(value: object, where: str) -> str:
    if value is None:
        return where.rsplit(":", 1)[-1].strip()
    if not isinstance(value, str) or not value.strip() or len(value) > 80:
        raise ConfigError(f"{where}.name must be a short text (at most 80 characters)")
    return value.strip()


def _words(value: object, allowed: tuple[str, ...], where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if item not in allowed:
            raise ConfigError(f"{where}: {item!r} is not one of {', '.join(allowed)}")
    return frozenset(str(item) for item in items)


def _patterns(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(
            isinstance(p, str) and p for p in value):
        raise ConfigError(f"{where} must be a non-empty list of namespace patterns")
    return tuple(value)


def _labels(value: object, where: str) -> tuple[tuple[str, frozenset[str]], ...]:
    if value is None:
        return ()
    pairs = []
    for key, values in _mapping(value, where).items():
        items = values if isinstance(values, list) else [values]
        if not items or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{where}.{key} must be a list of label values")
        pairs.append((str(key), frozenset(items)))
    return tuple(pairs)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    return value


def _known(doc: Mapping[str, Any], keys: set[str], where: str) -> None:
    for key in doc:
        if key not in keys:
            raise ConfigError(f"{where}: unknown key {key!r} (expected one of "
                              f"{', '.join(sorted(keys))})")
