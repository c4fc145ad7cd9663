"""Process settings from ``CHATBOT_*`` environment variables; secrets only from here.

Secrets are wrapped in :class:`Secret`, whose ``repr``/``str`` never show the value, so a
settings object can be logged or put in an error message without leaking a token.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from chatbot.errors import ConfigError

INTENTS_FORMATS = ("clientintents", "networkpolicy")


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str | None
    topic: str = "flow-anomalies"
    group: str = "flow-approval-chatbot"
    dlq_topic: str = "flow-anomalies.dlq"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_cafile: Path | None = None


@dataclass(frozen=True)
class SlackSettings:
    bot_token: Secret | None
    signing_secret: Secret | None
    app_token: Secret | None
    api_url: str = "https://slack.com/api/"


GIT_FORGES = ("gitea", "github")
GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class GitSettings:
    """The git sink (``CHATBOT_INTENTS_SINK=git``): where approvals are proposed."""

    url: str
    """The repository's HTTPS clone URL, without credentials."""
    forge: str
    api_url: str
    token: Secret | None
    base_branch: str = "main"
    folder: str = "intents"
    batch_seconds: float = 60.0
    poll_seconds: float = 30.0
    webhook_secret: Secret | None = None
    workdir: Path = Path(tempfile.gettempdir()) / "chatbot-git"

    @property
    def owner_and_repository(self) -> tuple[str, str]:
        parts = [part for part in urlsplit(self.url).path.split("/") if part]
        name = parts[-1].removesuffix(".git")
        return parts[-2], name

    @property
    def destination(self) -> str:
        """What batches are per: one repository folder on one base branch."""
        return f"{self.url}#{self.base_branch}:{self.folder}"


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings
    slack: SlackSettings
    database_url: Secret
    redis_url: Secret | None
    kubeconfig: Path | None
    intents_sink: str
    http_host: str
    http_port: int
    config_path: Path | None
    log_level: str
    dashboard_port: int | None = None
    dashboard_host: str = "127.0.0.1"
    dashboard_hosts: tuple[str, ...] = ()
    intents_format: str = "clientintents"
    """``clientintents`` (Otterize) or ``networkpolicy`` (native networking.k8s.io/v1)."""
    git: GitSettings | None = None
    """Set when ``CHATBOT_INTENTS_SINK=git``."""

    @property
    def intents_directory(self) -> Path | None:
        kind, _, path = self.intents_sink.partition(":")
        return Path(path) if kind == "directory" else None


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(f"CHATBOT_{name}", "").strip()
        return value or default

    def secret(name: str) -> Secret | None:
        value = get(name)
        return Secret(value) if value else None

    sink = get("INTENTS_SINK", "kubernetes") or "kubernetes"
    if sink not in ("kubernetes", "git") and not (sink.startswith("directory:")
                                                  and len(sink) > 10):
        raise ConfigError("CHATBOT_INTENTS_SINK must be 'kubernetes', 'directory:<path>' "
                          "or 'git'")
    intents_format = (get("INTENTS_FORMAT", "clientintents") or "clientintents").lower()
    if intents_format not in INTENTS_FORMATS:
        raise ConfigError("CHATBOT_INTENTS_FORMAT must be 'clientintents' or 'networkpolicy', "
                          f"not {intents_format!r}")
    port = get("HTTP_PORT", "3000") or "3000"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"CHATBOT_HTTP_PORT must be a port number, not {port!r}")
    protocol = (get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") or "PLAINTEXT").upper()
    if protocol not in {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}:
        raise ConfigError("CHATBOT_KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, "
                          "SASL_PLAINTEXT or SASL_SSL")
    dashboard = get("DASHBOARD_PORT")
    if dashboard is not None and (not dashboard.isdigit() or not 0 < int(dashboard) <= 65535):
        raise ConfigError(f"CHATBOT_DASHBOARD_PORT must be a port number, not {dashboard!r}")
    cafile = get("KAFKA_SSL_CAFILE")
    kubeconfig = get("KUBECONFIG")
    config = get("CONFIG")
    return Settings(
        kafka=KafkaSettings(
            bootstrap=get("KAFKA_BOOTSTRAP"),
            topic=get("KAFKA_TOPIC", "flow-anomalies") or "flow-anomalies",
            group=get("KAFKA_GROUP", "flow-approval-chatbot") or "flow-approval-chatbot",
            dlq_topic=get("KAFKA_DLQ_TOPIC", "flow-anomalies.dlq") or "flow-anomalies.dlq",
            security_protocol=protocol,
            sasl_mechanism=get("KAFKA_SASL_MECHANISM"),
            sasl_username=get("KAFKA_SASL_USERNAME"),
            sasl_password=secret("KAFKA_SASL_PASSWORD"),
            ssl_cafile=Path(cafile) if cafile else None,
        ),
        slack=SlackSettings(
            bot_token=secret("SLACK_BOT_TOKEN"),
            signing_secret=secret("SLACK_SIGNING_SECRET"),
            app_token=secret("SLACK_APP_TOKEN"),
            api_url=get("SLACK_API_URL", "https://slack.com/api/") or "https://slack.com/api/",
        ),
        database_url=Secret(get("DATABASE_URL", "sqlite+aiosqlite:///chatbot.db") or ""),
        redis_url=secret("REDIS_URL"),
        kubeconfig=Path(kubeconfig) if kubeconfig else None,
        intents_sink=sink,
        git=git_settings(get) if sink == "git" else None,
        intents_format=intents_format,
        http_host=get("HTTP_HOST", "0.0.0.0") or "0.0.0.0",  # noqa: S104 - serves Slack
        http_port=int(port),
        config_path=Path(config) if config else None,
        log_level=(get("LOG_LEVEL", "INFO") or "INFO").upper(),
        dashboard_port=int(dashboard) if dashboard else None,
        dashboard_host=get("DASHBOARD_HOST", "127.0.0.1") or "127.0.0.1",
        dashboard_hosts=tuple(h.strip() for h in (get("DASHBOARD_HOSTS") or "").split(",")
                              if h.strip()),
    )


def git_settings(get: _Get) -> GitSettings:
    """``CHATBOT_GIT_*``: the repository, its forge and how often to batch and poll."""
    url = get("GIT_URL")
    parts = urlsplit(url or "")
    if not url or parts.scheme not in ("http", "https") or len(
            [p for p in parts.path.split("/") if p]) < 2:
        raise ConfigError("CHATBOT_GIT_URL must be the repository's http(s) clone URL, e.g. "
                          "https://github.com/org/gitops.git")
    if parts.username or parts.password:
        raise ConfigError("CHATBOT_GIT_URL must not carry credentials; put the token in "
                          "CHATBOT_GIT_TOKEN")
    forge = (get("GIT_FORGE") or ("github" if parts.hostname == "github.com" else "")).lower()
    if forge not in GIT_FORGES:
        raise ConfigError("CHATBOT_GIT_FORGE must be 'gitea' or 'github'")
    api_url = get("GIT_API_URL") or (GITHUB_API_URL if forge == "github"
                                     else f"{parts.scheme}://{parts.netloc}/api/v1")
    token = get("GIT_TOKEN")
    if not token:
        raise ConfigError("CHATBOT_GIT_TOKEN is required: the sink pushes a branch and "
                          "opens pull requests")
    folder = (get("GIT_FOLDER", "intents") or "intents").strip("/")
    if ".." in folder.split("/") or folder.startswith(".git"):
        raise ConfigError(f"CHATBOT_GIT_FOLDER {folder!r} must stay inside the repository")
    workdir = get("GIT_WORKDIR")
    secret = get("GIT_WEBHOOK_SECRET")
    return GitSettings(
        url=url, forge=forge, api_url=api_url.rstrip("/"), token=Secret(token),
        base_branch=get("GIT_BASE_BRANCH", "main") or "main", folder=folder,
        batch_seconds=_seconds(get, "GIT_BATCH_SECONDS", 60.0),
        poll_seconds=_seconds(get, "GIT_POLL_SECONDS", 30.0),
        webhook_secret=Secret(secret) if secret else None,
        workdir=Path(workdir) if workdir else GitSettings.workdir,
    )


class _Get(Protocol):
    def __call__(self, name: str, default: str | None = None) -> str | None: ...


def _seconds(get: _Get, name: str, default: float) -> float:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(f"CHATBOT_{name} must be a number of seconds, not {raw!r}")
    return value
