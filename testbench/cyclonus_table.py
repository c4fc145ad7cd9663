"""Reading cyclonus's query-traffic answer, which it prints only as a table
(``AllowedResult.Table`` in pkg/matcher/policy.go at v0.5.6, drawn by olekukonko/tablewriter
with row lines and merged cells):

    Is traffic allowed?
    +-------------+--------+---------------+
    |    TYPE     | ACTION |    TARGET     |
    +-------------+--------+---------------+
    | Ingress     | Allow  | namespace: y  |
    |             |        | Match labels: |
    |             |        |   pod: b      |
    +             +--------+---------------+
    |             | Deny   | namespace: y  |
    |             |        | all pods      |
    +-------------+--------+---------------+
    |             |        |               |      <- always there: ingress above, egress below
    +-------------+--------+---------------+
    | Egress      | Deny   | namespace: y  |
    ...
    | IS ALLOWED? | FALSE  |
    +-------------+--------+---------------+

Each row is one policy target (namespace + pod selector) that selects the pod for that
direction, under "Allow" if one of its rules admits the traffic, else "Deny". A merged cell
(blank) repeats the one above it. cyclonus's rule, which :class:`DirectionVerdict` repeats: a
direction is allowed when some target allows it or no target selects the pod at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbench.process import BenchError

ANSWER_TITLE = "Is traffic allowed?"
FOOTER = "IS ALLOWED?"


@dataclass(frozen=True)
class DirectionVerdict:
    allowing: tuple[str, ...]
    """The policy targets (as cyclonus prints them) whose rules admit the traffic."""
    denying: tuple[str, ...]
    """The policy targets that select the pod but admit nothing of this traffic."""

    @property
    def allowed(self) -> bool:
        return bool(self.allowing) or not self.denying

    @property
    def isolated(self) -> bool:
        """Some policy selects the pod for this direction (it is deny-by-default there)."""
        return bool(self.allowing or self.denying)

    @property
    def allowed_by_policy(self) -> bool:
        """Allowed because a rule says so, not because no policy selects the pod."""
        return bool(self.allowing)


Answer = tuple[DirectionVerdict, DirectionVerdict, bool]
"""(ingress at the destination, egress at the source, the table's own overall answer)."""


def parse_verdicts(output: str) -> list[Answer]:
    lines = output.splitlines()
    starts = [index for index, line in enumerate(lines) if line.strip() == ANSWER_TITLE]
    return [_parse_table(_table_at(lines, start + 1)) for start in starts]


def _table_at(lines: list[str], start: int) -> list[str]:
    table = []
    for line in lines[start:]:
        if not line.startswith(("+", "|")):
            break
        table.append(line)
    return table


def _parse_table(table: list[str]) -> Answer:
    rows = _rows(table)
    if len(rows) < 2 or rows[0] != ("TYPE", "ACTION", "TARGET") or rows[-1][0] != FOOTER:
        raise BenchError("cyclonus", "unexpected query-traffic table:\n" + "\n".join(table))
    found: dict[str, dict[str, list[str]]] = {
        "Ingress": {"Allow": [], "Deny": []}, "Egress": {"Allow": [], "Deny": []}}
    direction, action = "Ingress", ""
    for kind, verb, target in rows[1:-1]:
        if not (kind or verb or target):
            direction, action = "Egress", ""  # the separator row
            continue
        direction = kind or direction
        action = verb or action
        if direction not in found or action not in found[direction]:
            raise BenchError("cyclonus", f"unexpected row {kind!r} {verb!r} {target!r}:\n"
                             + "\n".join(table))
        found[direction][action].append(target)
    overall = rows[-1][1]
    if overall not in ("TRUE", "FALSE"):
        raise BenchError("cyclonus", f"unexpected answer {overall!r}:\n" + "\n".join(table))
    ingress, egress = (DirectionVerdict(tuple(found[side]["Allow"]), tuple(found[side]["Deny"]))
                       for side in ("Ingress", "Egress"))
    return ingress, egress, overall == "TRUE"


def _rows(table: list[str]) -> list[tuple[str, str, str]]:
    """One (type, action, target) per block between row lines; multi-line cells joined."""
    rows: list[tuple[str, str, str]] = []
    block: list[list[str]] = []
    for line in [*table, "+"]:
        if line.startswith("+"):
            if block:
                columns = zip(*block, strict=True)
                kind, verb, target = ("\n".join(part for part in column if part)
                                      for column in columns)
                rows.append((kind, verb, target))
            block = []
            continue
        # The footer row has no closing bar; cells never contain one (label syntax forbids it).
        cells = [cell.strip() for cell in line.split("|")[1:4]]
        block.append([*cells, "", "", ""][:3])
    return rows
