"""Routing, approver and escalation rules as plain data, with the pure lookups over them.

Namespace patterns are shell-style globs (``payments-*``); the first matching rule wins,
so rules are written most specific first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TypeVar

from chatbot.config.decision_rules import DecisionRule
from chatbot.config.risk import DEFAULT_RISK, Enforcement, RiskRule


@dataclass(frozen=True, slots=True)
class Route:
    namespaces: tuple[str, ...]
    channel: str


@dataclass(frozen=True, slots=True)
class Approvers:
    """Slack user IDs (``U…``/``W…``) and user-group IDs (``S…``) allowed to decide."""

    namespaces: tuple[str, ...] = ("*",)
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.users or self.groups)


@dataclass(frozen=True, slots=True)
class Quorum:
    """Sensitive namespaces whose flows need ``approvals`` distinct approvers (two-person rule)."""

    namespaces: tuple[str, ...]
    approvals: int


@dataclass(frozen=True, slots=True)
class Escalation:
    pending_timeout_seconds: float = 30 * 60
    retried_after_block_window_seconds: float = 24 * 3600
    anyone_may_escalate: bool = False
    war_room_approvers: Approvers = field(default_factory=Approvers)
    # Escalation hands the decision to the war-room approvers; true keeps the namespace's
    # own approvers deciding as well (the original card keeps its buttons).
    namespace_approvers_decide_escalated: bool = False
    # Client or target namespaces (globs) and client labels that make a flow critical and
    # escalate it at once, e.g. ``pci-*`` or ``compliance: [pci, hipaa]``.
    compliance_namespaces: tuple[str, ...] = ()
    compliance_labels: tuple[tuple[str, frozenset[str]], ...] = ()
    incident_channel: bool = False
    responders: Approvers = field(default_factory=Approvers)
    timer_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class Rules:
    default_channel: str
    war_room_channel: str | None = None
    routes: tuple[Route, ...] = ()
    approvers: tuple[Approvers, ...] = ()
    escalation: Escalation = field(default_factory=Escalation)
    quorum: tuple[Quorum, ...] = ()
    # Ordered: the first matching rule decides (chatbot.decision_rules).
    decisions: tuple[DecisionRule, ...] = ()
    digest_seconds: float = 24 * 3600
    risk: tuple[RiskRule, ...] = DEFAULT_RISK
    enforcement: Enforcement = field(default_factory=Enforcement)
    # ``grouping: {window: 2m}``: a workload's new flows within the window share one card;
    # None (the default): one card per flow.
    grouping_seconds: float | None = None

    @property
    def war_room_decides(self) -> bool:
        """Does an escalation take the decision from the namespace's approvers? Only when
        there is a war room with approvers to hand it to, and the switch does not keep both."""
        escalation = self.escalation
        return (self.war_room_channel is not None and bool(escalation.war_room_approvers)
                and not escalation.namespace_approvers_decide_escalated)

    def approvals_required(self, namespace: str) -> int:
        rule = first_match(self.quorum, namespace)
        return rule.approvals if rule else 1

    def channel_for(self, namespace: str) -> str:
        route = first_match(self.routes, namespace)
        return route.channel if route else self.default_channel

    def approvers_for(self, namespace: str) -> Approvers:
        """Who may decide for a client namespace; nobody when no rule matches."""
        rule = first_match(self.approvers, namespace)
        return rule if rule else Approvers(namespaces=(namespace,))


_R = TypeVar("_R", Route, Approvers, Quorum)


def matches(patterns: Sequence[str], namespace: str) -> bool:
    return any(fnmatchcase(namespace, pattern) for pattern in patterns)


def first_match(rules: Sequence[_R], namespace: str) -> _R | None:
    for rule in rules:
        if matches(rule.namespaces, namespace):
            return rule
    return None
