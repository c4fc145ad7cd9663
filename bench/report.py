"""The benchmark's output: progress lines on stderr while it runs, and at the end one table of
figures with their targets and PASS/FAIL, also written as Markdown and JSON under bench/out/."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.0f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Row:
    section: str
    measure: str
    value: str
    target: str = ""
    verdict: str = ""


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


@dataclass
class Report:
    command: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, measure: str, value: str, target: str = "",
            ok: bool | None = None) -> None:
        self.rows.append(Row(section, measure, value, target,
                             "" if ok is None else verdict(ok)))
        progress(f"{section}: {measure} = {value}" + (f" ({verdict(ok)})" if ok is not None
                                                      else ""))

    def markdown(self) -> str:
        lines = ["| # | measure | value | target | |", "|---|---|---|---|---|"]
        lines += [f"| {r.section} | {r.measure} | {r.value} | {r.target} | {r.verdict} |"
                  for r in self.rows]
        return "\n".join(lines)

    def text(self) -> str:
        header = Row("#", "measure", "value", "target", "")
        rows = [header, *self.rows]
        widths = [max(len(getattr(r, name)) for r in rows)
                  for name in ("section", "measure", "value", "target", "verdict")]
        out = []
        for index, r in enumerate(rows):
            cells = (r.section, r.measure, r.value, r.target, r.verdict)
            out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
                       .rstrip())
            if index == 0:
                out.append("  ".join("-" * w for w in widths))
        return "\n".join(out)

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        notes = "".join(f"- {note}\n" for note in self.notes)
        (directory / "results.md").write_text(
            f"`{self.command}`\n\n{self.markdown()}\n\n{notes}")
        (directory / "results.json").write_bytes(orjson.dumps(
            {"command": self.command, "rows": [asdict(r) for r in self.rows],
             "notes": self.notes}, option=orjson.OPT_INDENT_2))


def rate(events: float, seconds: float, *, unit: str = "ev/s") -> str:
    return f"{events / seconds:,.0f} {unit}" if seconds > 0 else "n/a"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 200 is the 198th value)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
