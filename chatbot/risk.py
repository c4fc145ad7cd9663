"""How careful a decision must be: the risk rules applied to one flow (pure).

The store assesses every card it builds, so the Slack message, the review page and the
decision code all see the same answer: which rules make the flow risky (Approve then asks
for a confirmation), whether a written justification is required, and how many distinct
approvers the rules ask for on top of the namespace's quorum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chatbot.config.risk import RiskRule
from chatbot.config.rules import Escalation, matches
from chatbot.events.model import InternetTarget, KafkaTarget, KubernetesTarget, Target, Workload


@dataclass(frozen=True, slots=True)
class Risk:
    reasons: tuple[str, ...] = ()
    """The names of the matching rules, in rule order; empty for a benign flow."""
    justification: bool = False
    approvals: int = 1

    @property
    def risky(self) -> bool:
        return bool(self.reasons)


BENIGN = Risk()


def assess(*, client: Workload, target: Target, reason: str, severity: str,
           rules: tuple[RiskRule, ...], escalation: Escalation) -> Risk:
    matched = [rule for rule in rules
               if _matches(rule, client, target, reason, severity, escalation)]
    if not matched:
        return BENIGN
    return Risk(reasons=tuple(dict.fromkeys(rule.name for rule in matched)),
                justification=any(rule.justification for rule in matched),
                approvals=max(rule.approvals for rule in matched))


def target_kinds(client: Workload, target: Target) -> frozenset[str]:
    """Which of ``internet``, ``raw-ip`` and ``cross-namespace`` describe the target."""
    match target:
        case InternetTarget():
            kinds = {"internet"}
            if target.ip is not None and target.domain is None:
                kinds.add("raw-ip")
            return frozenset(kinds)
        case KubernetesTarget() | KafkaTarget():
            return frozenset({"cross-namespace"} if target.namespace != client.namespace
                             else ())


def _matches(rule: RiskRule, client: Workload, target: Target, reason: str, severity: str,
             escalation: Escalation) -> bool:
    namespaces = _namespaces(client, target)
    checks = [
        not rule.severities or severity in rule.severities,
        not rule.targets or bool(rule.targets & target_kinds(client, target)),
        not rule.reasons or reason in rule.reasons,
        not rule.namespaces or any(matches(rule.namespaces, ns) for ns in namespaces),
        not rule.labels or _labelled(client.labels, rule.labels),
        not rule.compliance or _in_compliance_scope(namespaces, client.labels, escalation),
    ]
    return all(checks)


def _namespaces(client: Workload, target: Target) -> tuple[str, ...]:
    if isinstance(target, KubernetesTarget | KafkaTarget):
        return (client.namespace, target.namespace)
    return (client.namespace,)


def _labelled(labels: Mapping[str, str],
              wanted: tuple[tuple[str, frozenset[str]], ...]) -> bool:
    return any(labels.get(key) in values for key, values in wanted)


def _in_compliance_scope(namespaces: tuple[str, ...], labels: Mapping[str, str],
                         escalation: Escalation) -> bool:
    return (any(matches(escalation.compliance_namespaces, ns) for ns in namespaces)
            or _labelled(labels, escalation.compliance_labels))
