"""The bench's Redis: Debian's redis-server on a free loopback port, no persistence. The dedup
fast path, rate limiting and escalation-timer lock are tested against it; each test gets a
freshly flushed logical database."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis
import redis.exceptions

from testbench.apt import apt_install
from testbench.paths import cache_dir, fresh_workdir
from testbench.process import (
    BenchError,
    Server,
    free_port,
    progress,
    spawn,
    wait_until,
)

COMPONENT = "redis"
# Logical databases handed out round-robin, one per test, flushed before reuse.
DATABASES = 64


def install() -> Path:
    """Path of redis-server, installing Debian's package if it is missing."""
    found = shutil.which("redis-server")
    if found is not None:
        return Path(found)
    apt_install(COMPONENT, "redis-server")
    found = shutil.which("redis-server")
    if found is None:
        raise BenchError(COMPONENT, "redis-server installed but not on PATH",
                         cache_dir(COMPONENT) / "install.log")
    progress(f"redis: installed {found}")
    return Path(found)


def start() -> RedisServer:
    """Start a redis-server that keeps everything in memory, on a free port."""
    binary = install()
    workdir = fresh_workdir(COMPONENT)
    port = free_port()
    log = workdir / "redis.log"
    server = spawn(
        COMPONENT,
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--databases", str(DATABASES),
         "--daemonize", "no"],
        log=log,
        cwd=workdir,
    )
    running = RedisServer(binary=binary, workdir=workdir, port=port, server=server)
    wait_until(server, running.ping, what=f"answering PING on port {port}")
    return running


@dataclass
class RedisServer:
    """One running in-memory redis-server."""

    binary: Path
    workdir: Path
    port: int
    server: Server | None
    next_database: int = 1

    @property
    def url(self) -> str:
        return self.database_url(0)

    def database_url(self, index: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{index}"

    def env(self) -> dict[str, str]:
        return {"CHATBOT_REDIS_URL": self.url}

    def describe(self) -> str:
        pid = self.server.pid if self.server else "stopped"
        return f"redis at {self.url} (pid {pid}, log {self.workdir / 'redis.log'})"

    def fresh_database(self) -> str:
        """URL of an emptied logical database not handed out recently (0 stays the default)."""
        index = self.next_database
        self.next_database = index % (DATABASES - 1) + 1
        with self._client(index) as client:
            client.flushdb()
        return self.database_url(index)

    def ping(self) -> bool:
        try:
            with self._client(0) as client:
                return bool(client.ping())
        except redis.exceptions.RedisError:
            return False

    def stop(self) -> None:
        if self.server is not None:
            self.server.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.process.wait(timeout=10.0)
            self.server.stop(grace=0.0)
            self.server = None

    def _client(self, index: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=index, socket_timeout=5)
