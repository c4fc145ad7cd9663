"""Decision rules as plain data: ordered ``auto_approve`` / ``auto_block`` /
``require_approval`` rules from the rules file's ``decisions:`` list.

Only the shapes live here (the rules file is parsed by :mod:`chatbot.config.load_decisions`);
matching a flow against them is :mod:`chatbot.decision_rules`. Every criterion left out
matches anything; a rule matches when all the criteria it names match.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RuleAction(StrEnum):
    AUTO_APPROVE = "auto_approve"
    AUTO_BLOCK = "auto_block"
    REQUIRE_APPROVAL = "require_approval"


@dataclass(frozen=True, slots=True)
class PortRange:
    low: int
    high: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """One rule; ``None`` means "any". Patterns are shell-style globs."""

    name: str
    action: RuleAction
    clusters: tuple[str, ...] | None = None
    client_namespaces: tuple[str, ...] | None = None
    client_workloads: tuple[str, ...] | None = None
    target_namespaces: tuple[str, ...] | None = None
    target_workloads: tuple[str, ...] | None = None
    # kubernetes / kafka / internet, or a Kubernetes kind (Deployment, StatefulSet, …)
    target_kinds: tuple[str, ...] | None = None
    ports: tuple[PortRange, ...] | None = None
    protocols: tuple[str, ...] | None = None
    reasons: tuple[str, ...] | None = None
    severities: tuple[str, ...] | None = None
    # True: only flows whose target is in the client's own namespace.
    same_namespace: bool = False
