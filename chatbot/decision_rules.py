"""Which decision rule decides a flow, and why: the pure matcher behind auto decisions,
``check-config``'s safety check and ``check-config --explain``.

Works on anything shaped like a flow (a stored :class:`~chatbot.card.Card` or a fresh
:class:`~chatbot.events.model.FlowEvent`). The first rule whose criteria all match decides;
no match means a person decides. A risky flow is never auto-approved: an ``auto_approve``
match on it becomes ``require_approval`` and the flow gets its card like any other.

:func:`is_risky` asks the risk rules (chatbot/risk.py, the ``risk:`` section of the rules
file, defaults when it has none) — the same answer that makes a card's Approve ask first — and
counts a quorum namespace as risky too (two people must decide, so no rule may).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Protocol

from chatbot.config.decision_rules import DecisionRule, RuleAction
from chatbot.config.rules import Rules
from chatbot.errors import ConfigError
from chatbot.events.model import (
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    Workload,
)
from chatbot.risk import assess

RISKY_SEVERITIES = frozenset({"high", "critical"})
RISKY_REASONS = frozenset({"denied-by-policy", "would-be-denied"})


class Flow(Protocol):
    @property
    def cluster(self) -> str: ...
    @property
    def client(self) -> Workload: ...
    @property
    def target(self) -> Target: ...
    @property
    def reason(self) -> Reason: ...
    @property
    def severity(self) -> Severity: ...


@dataclass(frozen=True, slots=True)
class Ruling:
    """What happens to a flow: ``action`` is the outcome after the risk check."""

    action: RuleAction
    rule: DecisionRule | None
    why: str
    risks: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    """Each earlier rule and the criterion it failed on (for ``--explain``)."""

    @property
    def automatic(self) -> bool:
        return self.action is not RuleAction.REQUIRE_APPROVAL


def ruling(flow: Flow, rules: Rules) -> Ruling:
    risks = tuple(risks_of(flow, rules))
    skipped: list[str] = []
    for rule in rules.decisions:
        miss = mismatch(rule, flow)
        if miss is not None:
            skipped.append(f"{rule.name}: {miss}")
            continue
        why = f"rule {rule.name!r} ({rule.action}) matches: {', '.join(matched(rule, flow))}"
        if rule.action is RuleAction.AUTO_APPROVE and risks:
            return Ruling(RuleAction.REQUIRE_APPROVAL, rule,
                          f"{why}; but the flow is risky ({'; '.join(risks)}), and a risky "
                          "flow is never auto-approved, so an approver decides",
                          risks, tuple(skipped))
        return Ruling(rule.action, rule, why, risks, tuple(skipped))
    return Ruling(RuleAction.REQUIRE_APPROVAL, None,
                  "no decision rule matches, so an approver decides", risks, tuple(skipped))


def is_risky(flow: Flow, rules: Rules) -> bool:
    return bool(risks_of(flow, rules))


def risks_of(flow: Flow, rules: Rules) -> list[str]:
    """Why a flow is risky (the matching risk rules' names); empty when it is not."""
    found = list(assess(client=flow.client, target=flow.target, reason=flow.reason.value,
                        severity=flow.severity.value, rules=rules.risk,
                        escalation=rules.escalation).reasons)
    needed = rules.approvals_required(flow.client.namespace)
    if needed > 1:
        found.append(f"quorum namespace {flow.client.namespace} (needs {needed} approvers)")
    return found


def mismatch(rule: DecisionRule, flow: Flow) -> str | None:
    """The first criterion of ``rule`` the flow fails, in words; None when all match."""
    target = flow.target
    target_ns = _target_namespace(target)
    checks: list[tuple[str, tuple[str, ...] | None, str | None]] = [
        ("cluster", rule.clusters, flow.cluster),
        ("client namespace", rule.client_namespaces, flow.client.namespace),
        ("client workload", rule.client_workloads, flow.client.name),
        ("target namespace", rule.target_namespaces, target_ns),
        ("target workload", rule.target_workloads, _target_workload(target)),
    ]
    for what, patterns, value in checks:
        if patterns is not None and (value is None or not _any(patterns, value)):
            return f"{what} {value or '(none)'!s} is not one of {', '.join(patterns)}"
    if rule.same_namespace and target_ns != flow.client.namespace:
        return "the target is not in the client's namespace"
    kinds = _target_kinds(target)
    if rule.target_kinds is not None and not any(
            _any(tuple(k.lower() for k in rule.target_kinds), kind) for kind in kinds):
        return f"target kind {'/'.join(kinds)} is not one of {', '.join(rule.target_kinds)}"
    port, protocol = _port(target)
    if rule.ports is not None and not any(port in r for r in rule.ports):
        return (f"port {port or '(none)'} is not in "
                f"{', '.join(str(r) for r in rule.ports)}")
    if rule.protocols is not None and (protocol is None or not _any(
            tuple(p.upper() for p in rule.protocols), protocol)):
        return f"protocol {protocol or '(none)'} is not one of {', '.join(rule.protocols)}"
    if rule.reasons is not None and flow.reason.value not in rule.reasons:
        return f"reason {flow.reason.value} is not one of {', '.join(rule.reasons)}"
    if rule.severities is not None and flow.severity.value not in rule.severities:
        return f"severity {flow.severity.value} is not one of {', '.join(rule.severities)}"
    return None


def matched(rule: DecisionRule, flow: Flow) -> list[str]:
    """The criteria a matching rule names, with the flow's values (``any flow`` if none)."""
    target = flow.target
    port, protocol = _port(target)
    named = [
        ("cluster", rule.clusters, flow.cluster),
        ("client namespace", rule.client_namespaces, flow.client.namespace),
        ("client workload", rule.client_workloads, flow.client.name),
        ("target namespace", rule.target_namespaces, _target_namespace(target)),
        ("target workload", rule.target_workloads, _target_workload(target)),
        ("target kind", rule.target_kinds, "/".join(_target_kinds(target))),
        ("port", rule.ports, str(port)),
        ("protocol", rule.protocols, protocol),
        ("reason", rule.reasons, flow.reason.value),
        ("severity", rule.severities, flow.severity.value),
    ]
    words = [f"{what} {value}" for what, criterion, value in named if criterion is not None]
    if rule.same_namespace:
        words.append("target in the client's namespace")
    return words or ["any flow"]


def risky_classes(rule: DecisionRule, rules: Rules) -> list[str]:
    """The risky flow classes an ``auto_approve`` rule's criteria let through (empty: safe).

    Static, from the criteria alone (compliance labels and quorum namespaces are left to
    the run-time guard, as no criterion names labels): ``check-config`` rejects a rule set
    where this is not empty, so a rule that could approve a risky flow is caught before any
    flow arrives (the run-time guard in :func:`ruling` stays as the second line)."""
    if rule.action is not RuleAction.AUTO_APPROVE:
        return []
    found: list[str] = []
    if rule.severities is None or RISKY_SEVERITIES & set(rule.severities):
        found.append("high or critical severity (add severities: [low, medium])")
    if rule.reasons is None or RISKY_REASONS & set(rule.reasons):
        found.append("denied-by-policy / would-be-denied reasons (add reasons: [no-intent, "
                     "new-connection])")
    kinds = {k.lower() for k in rule.target_kinds} if rule.target_kinds is not None else None
    if not rule.same_namespace and rule.target_namespaces is None and (
            kinds is None or any(fnmatchcase("internet", k) for k in kinds)):
        found.append("internet targets (name target_kinds or target namespaces)")
    if not rule.same_namespace and not _single_namespace(rule):
        found.append("cross-namespace targets (add same_namespace: true)")
    compliance = rules.escalation.compliance_namespaces
    scopes = (rule.client_namespaces or ("*",)) + (rule.target_namespaces or ())
    if any(_overlap(scope, pattern) for scope in scopes for pattern in compliance):
        found.append("compliance namespaces (narrow client_namespaces/target_namespaces)")
    return found


def refuse_risky_auto_approvals(rules: Rules) -> None:
    """Raise ConfigError naming every ``auto_approve`` rule that could match a risky flow."""
    problems = [f"decisions rule {rule.name!r} could auto-approve {what}"
                for rule in rules.decisions for what in risky_classes(rule, rules)]
    if problems:
        raise ConfigError("risky flows are never auto-approved, so narrow these rules:\n  "
                          + "\n  ".join(problems))


def _single_namespace(rule: DecisionRule) -> bool:
    """Client and target both pinned to the same literal namespace."""
    client, target = rule.client_namespaces, rule.target_namespaces
    return (client is not None and target is not None and len(client) == 1
            and client == target and not any(c in client[0] for c in "*?["))


def _overlap(left: str, right: str) -> bool:
    return fnmatchcase(left, right) or fnmatchcase(right, left) or "*" in (left, right)


def _any(patterns: tuple[str, ...], value: str) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def _target_namespace(target: Target) -> str | None:
    return target.namespace if isinstance(target, KubernetesTarget | KafkaTarget) else None


def _target_workload(target: Target) -> str | None:
    if isinstance(target, InternetTarget):
        return target.domain or target.ip
    return target.name


def _target_kinds(target: Target) -> tuple[str, ...]:
    if isinstance(target, KubernetesTarget) and target.kind:
        return (target.type.value, target.kind.lower())
    return (target.type.value,)


def _port(target: Target) -> tuple[int | None, str | None]:
    if isinstance(target, KafkaTarget):
        return None, None
    protocol = (target.protocol or "TCP").upper() if target.port or target.protocol else None
    return target.port, protocol
