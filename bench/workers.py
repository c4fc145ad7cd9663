"""The parent side of :mod:`bench.worker`: run one measurement in a child process and read
its JSON result line."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Measured:
    mode: str
    events: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # user + system of the measuring process(es) over the run
    members: tuple[tuple[float, float, int], ...] = ()  # per process: seconds, CPU, events

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def measure(mode: str, *, bootstrap: str, topic: str, events: int,
            database_url: str | None = None, profile: Path | None = None,
            max_records: int | None = None, processes: int = 1,
            timeout: float = 1800.0) -> Measured:
    command = [mode, "--bootstrap", bootstrap, "--topic", topic, "--events", str(events)]
    if database_url:
        command += ["--database-url", database_url]
    if profile:
        command += ["--profile", str(profile)]
    if max_records:
        command += ["--max-records", str(max_records)]
    if processes > 1:
        command += ["--processes", str(processes)]
    result = run_worker(command, timeout=timeout)
    return Measured(mode=mode, events=int(result["events"]), seconds=float(result["seconds"]),
                    peak_rss_mb=float(result["vmhwm_mb"]),
                    cpu_seconds=float(result.get("cpu_seconds", 0.0)),
                    members=tuple((float(m[0]), float(m[1]), int(m[2]))
                                  for m in result.get("members", ())))


def run_worker(arguments: list[str], *, module: str = "bench.worker",
               timeout: float = 1800.0) -> dict[str, Any]:
    """``python -m module arguments…`` in a fresh interpreter; its last stdout line, a JSON
    object."""
    finished = subprocess.run([sys.executable, "-m", module, *arguments], cwd=ROOT,
                              capture_output=True, timeout=timeout, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"bench worker {module} {arguments[0]} failed "
                           f"({finished.returncode}):\n"
                           + finished.stderr.decode(errors="replace")[-3000:])
    line = finished.stdout.decode().strip().splitlines()[-1]
    result: dict[str, Any] = orjson.loads(line)
    return result
