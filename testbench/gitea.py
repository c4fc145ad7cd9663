"""The bench's forge: a real Gitea on a free loopback port, SQLite in a fresh work directory
per run, one admin user with an access token. The git sink's forge adapter and working copy
are tested against it (repositories, pushes over HTTP, pull requests, merges, webhooks)."""

from __future__ import annotations

import contextlib
import getpass
import json
import re
import secrets
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbench.gitea_build import GITEA_VERSION, GiteaInstall
from testbench.gitea_build import install as install_gitea
from testbench.paths import fresh_workdir
from testbench.process import (
    BenchError,
    Server,
    free_port,
    run_checked,
    spawn,
    wait_until,
)

COMPONENT = "gitea"
ADMIN = "bench-admin"
ADMIN_EMAIL = "bench-admin@bench.invalid"
_TOKEN_LINE = re.compile(r"Access token was successfully created\.\.\. ([0-9a-f]{40})")


def install() -> GiteaInstall:
    """Build Gitea into the cache once (see testbench/gitea_build.py)."""
    return install_gitea()


def start() -> GiteaServer:
    """Configure a fresh instance, migrate its database, create the admin and serve."""
    built = install()
    workdir = fresh_workdir(COMPONENT)
    running = GiteaServer(install=built, workdir=workdir, port=free_port())
    running.configure()
    running.launch()
    return running


@dataclass(frozen=True)
class GiteaRepo:
    """A repository on the bench's Gitea and how to reach it."""

    owner: str
    name: str
    clone_url: str
    default_branch: str
    html_url: str


@dataclass
class GiteaServer:
    """One running Gitea; the admin's token has every scope."""

    install: GiteaInstall
    workdir: Path
    port: int
    token: str = ""
    admin: str = ADMIN
    server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def config(self) -> Path:
        return self.workdir / "custom" / "conf" / "app.ini"

    @property
    def log(self) -> Path:
        return self.workdir / "gitea.log"

    def env(self) -> dict[str, str]:
        return {
            "CHATBOT_GIT_FORGE": "gitea",
            "CHATBOT_GIT_API_URL": self.api_url,
            "CHATBOT_GIT_TOKEN": self.token,
        }

    def describe(self) -> str:
        pid = self.server.pid if self.server else "stopped"
        return (f"gitea {GITEA_VERSION} at {self.url} (admin {self.admin}, pid {pid}, "
                f"log {self.log})")

    def configure(self) -> None:
        """Write app.ini, create the schema and the admin user with a token."""
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self._app_ini())
        run_checked(COMPONENT, self._gitea("migrate"), log=self.log, cwd=self.workdir)
        self.token = self._create_admin()

    def launch(self, timeout: float = 120.0) -> None:
        self.server = spawn(COMPONENT, self._gitea("web"), log=self.log, cwd=self.workdir)
        wait_until(self.server, self._answers, what=f"serving its API on {self.url}",
                   timeout=timeout)

    def stop(self) -> None:
        if self.server is not None:
            self.server.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.process.wait(timeout=15.0)
            self.server.stop(grace=0.0)
            self.server = None

    def api(self, method: str, path: str, body: object | None = None) -> Any:
        """One REST call as the admin (for set-up; the code under test brings its own client)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - always our loopback URL
            f"{self.api_url}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}",
                     "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise BenchError(COMPONENT, f"{method} {path} answered {exc.code}: {detail}") from exc
        return json.loads(raw) if raw else None

    def create_repo(self, name: str, *, default_branch: str = "main") -> GiteaRepo:
        """A repository owned by the admin with one initial commit on ``default_branch``."""
        created = self.api("POST", "/user/repos", {
            "name": name, "auto_init": True, "default_branch": default_branch,
            "private": False, "readme": "Default",
        })
        return GiteaRepo(owner=created["owner"]["login"], name=created["name"],
                         clone_url=created["clone_url"], default_branch=default_branch,
                         html_url=created["html_url"])

    def new_token(self, *, name: str, scopes: str) -> str:
        """A further access token of the admin's with only ``scopes`` (e.g. write:repository)."""
        out = self.workdir / f"token-{name}.out"
        run_checked(COMPONENT, [*self._gitea("admin", "user", "generate-access-token"),
                                "--username", self.admin, "--token-name", name,
                                "--scopes", scopes, "--raw"], log=out, cwd=self.workdir)
        token = out.read_text().strip().splitlines()[-1].strip()
        out.unlink()
        if not re.fullmatch(r"[0-9a-f]{40}", token):
            raise BenchError(COMPONENT, "`gitea admin user generate-access-token` printed no token")
        return token

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/version", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def _create_admin(self) -> str:
        out = self.workdir / "admin-create.out"
        run_checked(
            COMPONENT,
            [*self._gitea("admin", "user", "create"), "--username", self.admin,
             "--email", ADMIN_EMAIL, "--admin", "--random-password",
             "--must-change-password=false", "--access-token",
             "--access-token-name", "bench", "--access-token-scopes", "all"],
            log=out,
            cwd=self.workdir,
        )
        found = _TOKEN_LINE.search(out.read_text())
        out.unlink()  # it holds the token and the random password
        if found is None:
            raise BenchError(COMPONENT, "`gitea admin user create` printed no access token",
                             self.log)
        return found.group(1)

    def _gitea(self, *args: str) -> list[str]:
        return [str(self.install.binary), "--work-path", str(self.workdir),
                "--config", str(self.config), *args]

    def _app_ini(self) -> str:
        data = self.workdir / "data"
        sections: dict[str, dict[str, str]] = {
            "": {
                "APP_NAME": "chatbot bench forge",
                "RUN_MODE": "prod",
                "RUN_USER": getpass.getuser(),
                "WORK_PATH": str(self.workdir),
                # The bench runs as root on CI and dev machines; Gitea refuses that otherwise.
                "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT": "true",
            },
            "server": {
                "PROTOCOL": "http",
                "HTTP_ADDR": "127.0.0.1",
                "HTTP_PORT": str(self.port),
                "DOMAIN": "127.0.0.1",
                "ROOT_URL": f"{self.url}/",
                # Git hooks call back into the internal API through this URL.
                "LOCAL_ROOT_URL": f"{self.url}/",
                "PUBLIC_URL_DETECTION": "never",
                # Assets are not embedded (no `bindata` tag): templates and locales come
                # from the module source kept in the cache.
                "STATIC_ROOT_PATH": str(self.install.static_root),
                "APP_DATA_PATH": str(data),
                "OFFLINE_MODE": "true",
                "DISABLE_SSH": "true",
                "START_SSH_SERVER": "false",
                "LFS_START_SERVER": "false",
            },
            "database": {"DB_TYPE": "sqlite3", "PATH": str(data / "gitea.db")},
            "repository": {"ROOT": str(data / "repositories"), "DEFAULT_BRANCH": "main"},
            "security": {
                "INSTALL_LOCK": "true",
                "SECRET_KEY": secrets.token_urlsafe(32),
                "INTERNAL_TOKEN": secrets.token_urlsafe(48),
                # Webhooks go to the bot under test, which listens on loopback.
                "ALLOWED_HOST_LIST": "loopback",
            },
            "service": {"DISABLE_REGISTRATION": "true", "ENABLE_NOTIFY_MAIL": "false"},
            "mailer": {"ENABLED": "false"},
            "webhook": {"DELIVER_TIMEOUT": "5"},
            "log": {"MODE": "console", "LEVEL": "info", "ROOT_PATH": str(self.workdir / "log")},
            # Nothing leaves the machine: no update checks, no Actions runner, no packages.
            "cron.update_checker": {"ENABLED": "false"},
            "actions": {"ENABLED": "false"},
            "packages": {"ENABLED": "false"},
            "api": {"ENABLE_SWAGGER": "false"},
        }
        lines: list[str] = []
        for section, keys in sections.items():
            if section:
                lines.append(f"\n[{section}]")
            lines.extend(f"{key} = {value}" for key, value in keys.items())
        return "\n".join(lines) + "\n"

