"""The bench's PostgreSQL: Debian's server binaries run on a throwaway cluster (initdb) bound
to 127.0.0.1 on a free port. Storage, migrations and scale-out tests get a fresh database each
through `create_database`."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from testbench.apt import apt_install
from testbench.paths import cache_dir, fresh_workdir
from testbench.process import (
    BenchError,
    Server,
    free_port,
    progress,
    run_checked,
    spawn,
    wait_until,
)

COMPONENT = "postgres"
SUPERUSER = "postgres"
USER = "chatbot"
PASSWORD = "chatbot"
DATABASE = "chatbot"
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Throughput over durability: the cluster is thrown away after the run.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
}


def install() -> Path:
    """The directory of Debian's PostgreSQL server binaries, installing them if missing."""
    found = server_bindir()
    if found is not None:
        return found
    apt_install(COMPONENT, "postgresql")
    found = server_bindir()
    if found is None:
        raise BenchError(COMPONENT, "postgresql installed but no /usr/lib/postgresql/*/bin/"
                         "postgres found", cache_dir(COMPONENT) / "install.log")
    progress(f"postgres: installed {found}")
    return found


def server_bindir() -> Path | None:
    """The newest installed /usr/lib/postgresql/<major>/bin holding a server."""
    candidates = [
        binary.parent for binary in Path("/usr/lib/postgresql").glob("*/bin/postgres")
        if binary.parent.parent.name.isdigit()
    ]
    return max(candidates, key=lambda bindir: int(bindir.parent.name), default=None)


def start() -> PostgresServer:
    """initdb a fresh cluster, start it, and create the bot's role and database."""
    bindir = install()
    workdir = fresh_workdir(COMPONENT)
    account = run_account()
    # PostgreSQL refuses to run as root, and the unprivileged account it runs as cannot
    # traverse root's home (where the bench cache lives), so the cluster lives in /tmp.
    base = Path(tempfile.mkdtemp(prefix="chatbot-bench-pg-"))
    server = PostgresServer(bindir=bindir, workdir=workdir, base=base, port=free_port(),
                            account=account)
    try:
        server.initialize()
        server.launch()
        server.bootstrap()
    except BaseException:
        server.stop()
        raise
    return server


def run_account() -> pwd.struct_passwd | None:
    """Who the server runs as: nobody special unless we are root, else `postgres`/`nobody`."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise BenchError(COMPONENT, "running as root but neither a postgres nor a nobody user exists")


@dataclass
class PostgresServer:
    """One running throwaway PostgreSQL cluster."""

    bindir: Path
    workdir: Path
    base: Path
    port: int
    account: pwd.struct_passwd | None
    server: Server | None = None
    databases: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.database_url(DATABASE)

    @property
    def log(self) -> Path:
        return self.workdir / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    def database_url(self, name: str) -> str:
        return f"postgresql+asyncpg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{name}"

    def env(self) -> dict[str, str]:
        return {"CHATBOT_DATABASE_URL": self.url}

    def describe(self) -> str:
        pid = self.server.pid if self.server else "stopped"
        return (f"postgres {self.bindir.parent.name} at 127.0.0.1:{self.port} "
                f"(pid {pid}, data {self.base / 'data'}, log {self.log})")

    def create_database(self, name: str) -> str:
        """Create an empty database owned by the bot's role; returns its SQLAlchemy URL."""
        if not DATABASE_NAME.fullmatch(name):
            raise ValueError(f"not a plain lower-case database name: {name!r}")
        self.sql(f"CREATE DATABASE {name} OWNER {USER}")
        self.databases.append(name)
        return self.database_url(name)

    def sql(self, statement: str) -> None:
        """Run one statement as the superuser over the unix socket."""
        run_checked(
            COMPONENT,
            [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER,
             "-d", "postgres", "-c", statement],
            log=self.workdir / "psql.log",
            timeout=60,
        )

    def initialize(self) -> None:
        self.socket_dir.mkdir()
        if self.account is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        run_checked(
            COMPONENT,
            [*self._as_account(), str(self.bindir / "initdb"), "-D", str(self.base / "data"),
             "-U", SUPERUSER, "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
             "--auth-local=trust", "--auth-host=scram-sha-256"],
            log=self.log,
            cwd=self.base,
        )

    def launch(self) -> None:
        settings = {**SETTINGS, "port": str(self.port),
                    "unix_socket_directories": str(self.socket_dir)}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.server = spawn(
            COMPONENT,
            [*self._as_account(), str(self.bindir / "postgres"), "-D", str(self.base / "data"),
             *options],
            log=self.log,
            cwd=self.base,
        )
        isready = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1",
                   "-p", str(self.port), "-d", "postgres", "-U", SUPERUSER]

        def ready() -> bool:
            return subprocess.run(isready, check=False, timeout=10).returncode == 0

        wait_until(self.server, ready, what=f"accepting connections on port {self.port}")

    def bootstrap(self) -> None:
        self.sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        self.sql(f"CREATE DATABASE {DATABASE} OWNER {USER}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT disconnects clients) and delete the cluster's files."""
        self.halt()
        shutil.rmtree(self.base, ignore_errors=True)

    def halt(self) -> None:
        """Fast shutdown, keeping the data for :meth:`launch` (a database outage, for fault
        tests: clients get "connection refused" until it is back on the same port)."""
        if self.server is not None:
            self.server.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.process.wait(timeout=30.0)
            self.server.stop(grace=0.0)
            self.server = None

    def _as_account(self) -> list[str]:
        """setpriv execs in place (unlike runuser), so the server's pid is postgres itself."""
        if self.account is None:
            return []
        return ["setpriv", f"--reuid={self.account.pw_uid}", f"--regid={self.account.pw_gid}",
                "--clear-groups"]
