"""Read the rules file's ``decisions:`` list into :class:`DecisionRule` values, naming any
bad key. Called by :mod:`chatbot.config.load`.

Example::

    decisions:
      - name: web-to-own-api
        action: auto_approve          # auto_approve | auto_block | require_approval
        client_namespaces: ["shop-*"]
        client_workloads: ["web*"]
        same_namespace: true
        target_kinds: [Deployment]
        ports: [8080, "8000-8999"]
        protocols: [TCP]
        reasons: [no-intent, new-connection]
        severities: [low, medium]
      - name: no-telnet
        action: auto_block
        ports: [23]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chatbot.config.decision_rules import DecisionRule, PortRange, RuleAction
from chatbot.errors import ConfigError

_PATTERN_KEYS = ("clusters", "client_namespaces", "client_workloads", "target_namespaces",
                 "target_workloads", "target_kinds", "protocols")
_KEYS = {"name", "action", "ports", "reasons", "severities", "same_namespace", *_PATTERN_KEYS}
_REASONS = frozenset({"no-intent", "denied-by-policy", "new-connection", "would-be-denied"})
_SEVERITIES = frozenset({"low", "medium", "high", "critical"})
_PORT_RANGE = re.compile(r"(\d{1,5})(?:\s*-\s*(\d{1,5}))?")


def decision_rules(value: object, where: str) -> tuple[DecisionRule, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list")
    rules = tuple(_rule(item, f"{where}[{i}]") for i, item in enumerate(value))
    names = [rule.name for rule in rules]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{where}: two rules are named {name!r} (the audit log names the "
                              "deciding rule, so names must be unique)")
    return rules


def _rule(item: object, where: str) -> DecisionRule:
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a mapping")
    doc: Mapping[str, Any] = item
    for key in doc:
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (expected one of "
                              f"{', '.join(sorted(_KEYS))})")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ConfigError(f"{where}.name is required (up to 100 characters)")
    try:
        action = RuleAction(str(doc.get("action")))
    except ValueError:
        raise ConfigError(f"{where}.action must be one of "
                          f"{', '.join(a.value for a in RuleAction)}") from None
    same = doc.get("same_namespace", False)
    if not isinstance(same, bool):
        raise ConfigError(f"{where}.same_namespace must be true or false")
    patterns = {key: _strings(doc[key], f"{where}.{key}") for key in _PATTERN_KEYS if key in doc}
    return DecisionRule(
        name=name.strip(), action=action, same_namespace=same,
        ports=_ports(doc["ports"], f"{where}.ports") if "ports" in doc else None,
        reasons=(_choices(doc["reasons"], _REASONS, f"{where}.reasons")
                 if "reasons" in doc else None),
        severities=(_choices(doc["severities"], _SEVERITIES, f"{where}.severities")
                    if "severities" in doc else None),
        **patterns)


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a non-empty list of patterns")
    return tuple(value)


def _choices(value: object, allowed: frozenset[str], where: str) -> tuple[str, ...]:
    items = _strings(value, where)
    for item in items:
        if item not in allowed:
            raise ConfigError(f"{where}: {item!r} is not one of {', '.join(sorted(allowed))}")
    return items


def _ports(value: object, where: str) -> tuple[PortRange, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} must be a non-empty list of ports or ranges (8000-8999)")
    ranges = []
    for item in value:
        match = _PORT_RANGE.fullmatch(str(item).strip()) if not isinstance(item, bool) else None
        low = int(match.group(1)) if match else -1
        high = int(match.group(2) or low) if match else -1
        if not match or not 1 <= low <= high <= 65535:
            raise ConfigError(f"{where}: {item!r} is not a port (1-65535) or a range low-high")
        ranges.append(PortRange(low, high))
    return tuple(ranges)
