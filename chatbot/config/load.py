"""Read the rules file (``CHATBOT_CONFIG``, YAML) into :class:`Rules`, naming any bad key.

Example::

    channels:
      default: flow-alerts        # channel name or ID
      war_room: sec-war-room
    routes:
      - namespaces: ["payments-*"]
        channel: payments-flows
    approvers:
      - namespaces: ["payments-*"]
        users: [U012PAYLEAD]
        groups: [S01PAYTEAM]
    escalation:
      pending_timeout: 30m
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from chatbot.config.load_decisions import decision_rules
from chatbot.config.patterns import pattern_problem
from chatbot.config.risk import enforcement, risk_rules
from chatbot.config.rules import Approvers, Escalation, Quorum, Route, Rules
from chatbot.errors import ConfigError, ConfigProblems

_T = TypeVar("_T")

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def load_rules(path: Path) -> Rules:
    """The rules in ``path``; :class:`ConfigProblems` lists every bad key in the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"CHATBOT_CONFIG: cannot read the rules file {path}: "
                          f"{exc.strerror}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    return rules_from_document(doc or {}, source=str(path))


class _Report:
    """Collects the problems of every item, so one run names all of them; an item that has
    a problem is left out of the result, which is then never used."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def each(self, value: object, where: str, parse: Callable[[object, str], _T]
             ) -> tuple[_T, ...]:
        try:
            items = _list(value, where)
        except ConfigError as error:
            self.problems.append(str(error))
            return ()
        parsed = []
        for i, item in enumerate(items):
            result = self.one(parse, item, f"{where}[{i}]")
            if result is not None:
                parsed.append(result)
        return tuple(parsed)

    def one(self, parse: Callable[[object, str], _T], value: object, where: str) -> _T | None:
        try:
            return parse(value, where)
        except ConfigProblems as error:
            self.problems.extend(error.problems)
        except ConfigError as error:
            self.problems.append(str(error))
        return None


def rules_from_document(doc: object, *, source: str = "config") -> Rules:
    """Parse a rules document, or raise :class:`ConfigProblems` naming every bad key."""
    top = _mapping(doc, source)
    report = _Report()
    report.one(lambda value, where: _known(_mapping(value, where), {
        "channels", "routes", "approvers", "escalation", "quorum", "decisions", "digest",
        "grouping", "risk", "enforcement"}, where), top, source)
    channels = report.one(_channels, top.get("channels", {}), f"{source}: channels")
    routes = report.each(top.get("routes", []), f"{source}: routes", _route)
    approvers = report.each(top.get("approvers", []), f"{source}: approvers", _approvers)
    escalation = report.one(_escalation, top.get("escalation", {}), f"{source}: escalation")
    quorum = report.each(top.get("quorum", []), f"{source}: quorum", _quorum)
    decisions = report.one(decision_rules, top.get("decisions", []), f"{source}: decisions")
    digest = report.one(_digest, top.get("digest", {}), f"{source}: digest")
    grouping = report.one(lambda value, where: (_grouping(value, where),),
                          top.get("grouping"), f"{source}: grouping")
    risk = report.one(risk_rules, top.get("risk"), f"{source}: risk")
    enforced = report.one(enforcement, top.get("enforcement"), f"{source}: enforcement")
    if (report.problems or channels is None or escalation is None or decisions is None
            or digest is None or grouping is None or risk is None or enforced is None):
        raise ConfigProblems(report.problems)
    default, war_room = channels
    return Rules(default_channel=default, war_room_channel=war_room, routes=routes,
                 approvers=approvers, escalation=escalation, quorum=quorum,
                 decisions=decisions, digest_seconds=digest, grouping_seconds=grouping[0],
                 risk=risk, enforcement=enforced)


def _grouping(item: object, where: str) -> float | None:
    """``grouping: {window: 2m}``: one card for a workload's new flows within the window."""
    if item is None:
        return None
    doc = _mapping(item, where)
    _known(doc, {"window"}, where)
    if "window" not in doc:
        raise ConfigError(f"{where}.window is required (such as 2m)")
    seconds = parse_duration(doc["window"], f"{where}.window")
    if seconds <= 0:
        raise ConfigError(f"{where}.window must be longer than zero")
    return seconds


def _digest(item: object, where: str) -> float:
    """``digest: {every: 24h}``: how often auto decisions are summed up per channel."""
    doc = _mapping(item, where)
    _known(doc, {"every"}, where)
    seconds = parse_duration(doc.get("every", 24 * 3600), f"{where}.every")
    if seconds <= 0:
        raise ConfigError(f"{where}.every must be longer than zero")
    return seconds


def _channels(value: object, where: str) -> tuple[str, str | None]:
    channels = _mapping(value, where)
    _known(channels, {"default", "war_room"}, where)
    default = _channel(channels.get("default"), f"{where}.default")
    if default is None:
        raise ConfigError(f"{where}.default is required (the channel for unrouted "
                          "anomalies)")
    return default, _channel(channels.get("war_room"), f"{where}.war_room")


def parse_duration(value: object, where: str) -> float:
    """``90``, ``"90s"``, ``"30m"``, ``"2h"`` → seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.fullmatch(str(value).strip())
    if not match:
        raise ConfigError(f"{where} must be a duration such as 90s, 30m or 2h, not {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _route(item: object, where: str) -> Route:
    doc = _mapping(item, where)
    _known(doc, {"namespaces", "channel"}, where)
    channel = _channel(doc.get("channel"), f"{where}.channel")
    if channel is None:
        raise ConfigError(f"{where}.channel is required")
    return Route(namespaces=_patterns(doc.get("namespaces"), f"{where}.namespaces"),
                 channel=channel)


def _approvers(item: object, where: str) -> Approvers:
    approvers = _people(item, where, need_namespaces=True)
    if not approvers:
        raise ConfigError(f"{where} names no users and no groups: nobody could approve for "
                          f"{', '.join(approvers.namespaces)}")
    return approvers


def _people(item: object, where: str, *, need_namespaces: bool = False) -> Approvers:
    doc = _mapping(item, where)
    _known(doc, {"namespaces", "users", "groups"}, where)
    users = _ids(doc.get("users", []), _USER_ID, f"{where}.users", "a Slack user ID (U…)")
    groups = _ids(doc.get("groups", []), _GROUP_ID, f"{where}.groups", "a user-group ID (S…)")
    namespaces = (_patterns(doc.get("namespaces"), f"{where}.namespaces")
                  if need_namespaces else ("*",))
    return Approvers(namespaces=namespaces, users=users, groups=groups)


def _quorum(item: object, where: str) -> Quorum:
    doc = _mapping(item, where)
    _known(doc, {"namespaces", "approvals"}, where)
    approvals = doc.get("approvals")
    if not isinstance(approvals, int) or isinstance(approvals, bool) or not 1 <= approvals <= 10:
        raise ConfigError(f"{where}.approvals must be a whole number from 1 to 10")
    return Quorum(namespaces=_patterns(doc.get("namespaces"), f"{where}.namespaces"),
                  approvals=approvals)


def _compliance_labels(value: object, where: str) -> tuple[tuple[str, frozenset[str]], ...]:
    labels = _mapping(value, where)
    pairs = []
    for key, values in labels.items():
        items = _list(values, f"{where}.{key}")
        if not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{where}.{key} must be a list of label values")
        pairs.append((str(key), frozenset(str(v) for v in items)))
    return tuple(pairs)


def _escalation(item: object, where: str) -> Escalation:
    doc = _mapping(item, where)
    _known(doc, {"pending_timeout", "retried_after_block_window", "anyone_may_escalate",
                 "war_room_approvers", "compliance_namespaces", "compliance_labels",
                 "incident_channel", "responders", "timer_interval",
                 "namespace_approvers_decide_escalated"}, where)
    incident = doc.get("incident_channel", "none")
    if incident not in ("none", "create"):
        raise ConfigError(f"{where}.incident_channel must be 'none' or 'create'")
    responders = doc.get("responders")
    compliance = doc.get("compliance_namespaces")
    defaults = Escalation()
    anyone = doc.get("anyone_may_escalate", False)
    if not isinstance(anyone, bool):
        raise ConfigError(f"{where}.anyone_may_escalate must be true or false")
    war_room = doc.get("war_room_approvers")
    both = doc.get("namespace_approvers_decide_escalated", False)
    if not isinstance(both, bool):
        raise ConfigError(f"{where}.namespace_approvers_decide_escalated must be true or false")
    return Escalation(
        pending_timeout_seconds=_positive(parse_duration(
            doc.get("pending_timeout", defaults.pending_timeout_seconds),
            f"{where}.pending_timeout"), f"{where}.pending_timeout",
            "every flow would escalate the moment it arrives"),
        retried_after_block_window_seconds=parse_duration(
            doc.get("retried_after_block_window",
                    defaults.retried_after_block_window_seconds),
            f"{where}.retried_after_block_window"),
        anyone_may_escalate=anyone,
        war_room_approvers=(Approvers() if war_room is None else
                            _people(war_room, f"{where}.war_room_approvers")),
        namespace_approvers_decide_escalated=both,
        compliance_namespaces=(() if compliance is None else
                               _patterns(compliance, f"{where}.compliance_namespaces")),
        compliance_labels=_compliance_labels(doc.get("compliance_labels", {}),
                                             f"{where}.compliance_labels"),
        incident_channel=incident == "create",
        responders=(Approvers() if responders is None else
                    _people(responders, f"{where}.responders")),
        timer_seconds=_positive(parse_duration(
            doc.get("timer_interval", defaults.timer_seconds), f"{where}.timer_interval"),
            f"{where}.timer_interval", "the escalation timer would never rest"),
    )


def _channel(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a channel name or ID")
    return value.strip().removeprefix("#")


def _positive(seconds: float, where: str, why: str) -> float:
    if seconds <= 0:
        raise ConfigError(f"{where} must be longer than 0 ({why})")
    return seconds


def _patterns(value: object, where: str) -> tuple[str, ...]:
    items = _list(value if value is not None else [], where)
    if not items or not all(isinstance(p, str) and p for p in items):
        raise ConfigError(f"{where} must be a non-empty list of namespace patterns")
    problems = [f"{where}: {item!r} {problem}" for item in items
                if (problem := pattern_problem(str(item))) is not None]
    if problems:
        raise ConfigProblems(problems)
    return tuple(str(p) for p in items)


def _ids(value: object, pattern: re.Pattern[str], where: str, what: str) -> frozenset[str]:
    items = _list(value, where)
    for item in items:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise ConfigError(f"{where}: {item!r} is not {what}")
    return frozenset(str(item) for item in items)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list")
    return value


def _known(doc: Mapping[str, Any], keys: set[str], where: str) -> None:
    for key in doc:
        if key not in keys:
            raise ConfigError(f"{where}: unknown key {key!r} (expected one of "
                              f"{', '.join(sorted(keys))})")
