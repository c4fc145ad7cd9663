"""Checks across rules that each parse on their own but together cannot work: nobody may
approve at all, a rule that an earlier one always wins over (first match wins), a quorum
larger than the people who could meet it. Pure functions over :class:`Rules`; the rules
loader has already checked each rule by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatbot.config.patterns import covers, is_literal
from chatbot.config.rules import Approvers, Quorum, Route, Rules, first_match

Rule = Route | Approvers | Quorum


def rules_problems(rules: Rules, *, source: str = "config") -> list[str]:
    problems: list[str] = []
    if not rules.approvers:
        problems.append(f"{source}: approvers is empty: nobody may approve any flow (add "
                        "at least one rule, e.g. {namespaces: ['*'], users: [U0123ABC]})")
    for kind, items in (("routes", rules.routes), ("approvers", rules.approvers),
                        ("quorum", rules.quorum)):
        problems += _shadowed(f"{source}: {kind}", items)
    problems += _quorum_out_of_reach(rules, source)
    return problems


def _shadowed(where: str, rules: Sequence[Rule]) -> list[str]:
    problems = []
    for later_index, later in enumerate(rules):
        winners = set()
        for pattern in later.namespaces:
            winner = next((i for i, earlier in enumerate(rules[:later_index])
                           if any(covers(e, pattern) for e in earlier.namespaces)), None)
            if winner is None:
                break
            winners.add(winner)
        else:
            earlier_rules = " and ".join(f"{where}[{i}]" for i in sorted(winners))
            problems.append(
                f"{where}[{later_index}] ({', '.join(later.namespaces)}) is never used: "
                f"{earlier_rules} matches every namespace it does first (the first matching "
                "rule wins: put the more specific rule first)")
    return problems


def _quorum_out_of_reach(rules: Rules, source: str) -> list[str]:
    """A quorum rule asking for more distinct approvers than the approver rule deciding its
    namespaces names. With user groups the members are only known online (``--online``)."""
    problems = []
    for index, quorum in enumerate(rules.quorum):
        for pattern in quorum.namespaces:
            deciding = deciding_rule(rules, pattern)
            if deciding is None:
                if is_literal(pattern):
                    problems.append(f"{source}: quorum[{index}] asks for {quorum.approvals} "
                                    f"approvals in {pattern!r}, but no approver rule covers "
                                    "it: nobody may approve there")
                continue
            position, approvers = deciding
            if not approvers.groups and len(approvers.users) < quorum.approvals:
                problems.append(
                    f"{source}: quorum[{index}] asks for {quorum.approvals} distinct approvals "
                    f"in {pattern!r}, but approvers[{position}], which decides there, names "
                    f"only {len(approvers.users)} user(s) and no groups: no flow there could "
                    "ever be approved")
    return problems


def deciding_rule(rules: Rules, pattern: str) -> tuple[int, Approvers] | None:
    """The approver rule (index, rule) that decides every namespace ``pattern`` matches, or
    None when no single rule is sure to."""
    if is_literal(pattern):
        found = first_match(rules.approvers, pattern)
        return None if found is None else (rules.approvers.index(found), found)
    for position, approvers in enumerate(rules.approvers):
        if any(covers(e, pattern) for e in approvers.namespaces):
            return position, approvers
    return None
