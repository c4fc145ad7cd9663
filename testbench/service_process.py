"""``chatbot serve`` as a real child process, for the fault tests and the fault report.

The child gets exactly the ``CHATBOT_*`` settings it is given (nothing leaks in from the
caller's environment), logs to a file that survives restarts, and is stopped the way the
world stops it: ``kill()`` is SIGKILL (no cleanup at all), ``terminate()`` is SIGTERM (the
graceful path ``chatbot serve`` takes on a Kubernetes pod stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from testbench.process import free_port, log_tail

ROOT = Path(__file__).resolve().parents[1]
SERVE = (sys.executable, "-m", "chatbot.cli", "serve")
START_TIMEOUT = 60.0
PROBE_TIMEOUT = 5.0
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class ServiceFailed(AssertionError):
    """The service did not do what a fault test waited for; the message ends in its log."""


@dataclass
class ServiceProcess:
    """One replica. ``start()`` again after it stopped is a restart with the same settings
    and port; every life appends to the same log."""

    name: str
    env: Mapping[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    lives: int = 0
    log_offset: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/slack/events"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, extra_env: Mapping[str, str] | None = None) -> None:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
        env = {**inherited, **self.env, **(extra_env or {}),
               "CHATBOT_HTTP_HOST": "127.0.0.1", "CHATBOT_HTTP_PORT": str(self.port)}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            out.write(f"--- {self.name} life {self.lives + 1} ---\n".encode())
            out.flush()
            self.process = subprocess.Popen(list(SERVE), cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        self.lives += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def kill(self) -> int | None:
        """SIGKILL, as the OOM killer or a node failure would; returns the exit status."""
        if self.process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM; the caller waits for the exit with :meth:`exited`."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    async def exited(self, *, within: float) -> int:
        """The exit status once the process is gone; fails if it outlives ``within``."""
        deadline = time.monotonic() + within
        while (code := self.returncode()) is None:
            if time.monotonic() > deadline:
                raise self.failure(f"still running {within:.0f}s after it was asked to stop")
            await asyncio.sleep(0.05)
        return code

    async def survives(self, seconds: float) -> bool:
        """Wait ``seconds``; False as soon as the process exits on its own meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            await asyncio.sleep(0.05)
        return self.alive()

    async def stop(self, *, within: float = 15.0) -> int:
        self.terminate()
        try:
            return await self.exited(within=within)
        finally:
            if self.alive():
                self.kill()

    def this_life(self) -> str:
        """What the current (or last) life wrote to the log."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as source:
            source.seek(self.log_offset)
            return source.read().decode(errors="replace")

    def failure(self, what: str) -> ServiceFailed:
        return ServiceFailed(f"{self.name} (pid {self.pid}): {what}\n--- {self.log} ---\n"
                             f"{log_tail(self.log, 40)}")

    async def get(self, path: str) -> tuple[int, bytes] | None:
        """One HTTP GET to the service; None when nothing answers."""
        try:
            timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
            async with aiohttp.ClientSession(timeout=timeout) as http, \
                    http.get(f"{self.base_url}{path}") as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None

    async def readiness(self) -> dict[str, bool] | None:
        """``/readyz``'s checks (plus ``ready``), or None when the service does not answer."""
        answer = await self.get("/readyz")
        if answer is None:
            return None
        body = orjson.loads(answer[1])
        return {"ready": bool(body["ready"]), **{k: bool(v) for k, v in body["checks"].items()}}

    async def listening(self, *, within: float = START_TIMEOUT, schema: bool = True) -> None:
        """Wait until ``/healthz`` answers and (``schema``) ``/readyz`` says the database is
        up — ``serve`` listens first and upgrades the schema after, so a story that reads the
        tables waits for that; fails at once if the process exits first."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.failure(f"exited with {self.returncode()} before listening")
            if await self.get("/healthz") is not None:
                if not schema:
                    return
                seen = await self.readiness()
                if seen is not None and seen.get("database"):
                    return
            await asyncio.sleep(0.1)
        raise self.failure(f"not listening (with its schema) after {within:.0f}s")

    async def ready_is(self, expected: bool, *, within: float, check: str = "ready") -> None:
        """Wait until ``/readyz`` says ``check`` (``ready`` or a probe name) is ``expected``."""
        deadline = time.monotonic() + within
        seen: dict[str, bool] | None = None
        while time.monotonic() < deadline:
            seen = await self.readiness()
            if seen is not None and seen.get(check) is expected:
                return
            await asyncio.sleep(0.1)
        raise self.failure(f"/readyz {check} never became {expected} in {within:.0f}s "
                           f"(last answer: {seen})")

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of the ``/metrics`` samples of ``name`` whose labels include ``labels``."""
        answer = await self.get("/metrics")
        if answer is None:
            raise self.failure("/metrics did not answer")
        total = 0.0
        for line in answer[1].decode().splitlines():
            sample, _, value = line.rpartition(" ")
            sample_name, _, label_text = sample.partition("{")
            if sample_name != name or line.startswith("#"):
                continue
            found = dict(_LABEL.findall(label_text))
            if all(found.get(key) == wanted for key, wanted in labels.items()):
                total += float(value)
        return total
