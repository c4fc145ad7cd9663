"""Process settings from ``CHATBOT_*`` environment variables; secrets only from here.

Secrets are wrapped in :class:`Secret`, whose ``repr``/``str`` never show the value, so a
settings object can be logged or put in an error message without leaking a token. A value
that cannot even be read (a port that is not a number) is reported together with every other
such value in one :class:`ConfigProblems`; whether the settings can work is
``chatbot.config.validate``'s question. The defaults are listed in ``catalog.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from chatbot.errors import ConfigError, ConfigProblems

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
    group_instance_id: str | None = None
    dlq_topic: str = "flow-anomalies.dlq"
    flows_topic: str | None = None
    """Cilium Hubble flows (exporter or ``hubble observe -o json`` lines), when set."""
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
    hubble_cluster: str = "default"
    """The cluster of Hubble flows that name none (Cilium's own default ``cluster.name``)."""
    hubble_include_dns: bool = False
    """Map flows to and from kube-dns like any other (off: every workload talks to DNS)."""

    @property
    def intents_directory(self) -> Path | None:
        kind, _, path = self.intents_sink.partition(":")
        return Path(path) if kind == "directory" else None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def settings_from_env(env: Mapping[str, str] | None = None, *,
                      config_path: Path | None = None) -> Settings:
    """Read every setting; ``config_path`` (``--config FILE``) wins over ``CHATBOT_CONFIG``.
    Raises :class:`ConfigProblems` naming every value that cannot be read, all at once."""
    env = os.environ if env is None else env
    problems: list[str] = []

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(f"CHATBOT_{name}", "").strip()
        return value or default

    def secret(name: str) -> Secret | None:
        value = get(name)
        return Secret(value) if value else None

    def port_number(name: str, default: str | None) -> int | None:
        value = get(name, default)
        if value is None:
            return None
        if not value.isdigit() or not 0 < int(value) <= 65535:
            problems.append(f"CHATBOT_{name} must be a port number from 1 to 65535, "
                            f"not {value!r}")
            return None
        return int(value)

    sink = get("INTENTS_SINK", "kubernetes") or "kubernetes"
    git: GitSettings | None = None
    if sink not in ("kubernetes", "git") and not (sink.startswith("directory:")
                                                  and len(sink) > 10):
        problems.append(f"CHATBOT_INTENTS_SINK must be 'kubernetes', 'directory:<path>' or "
                        f"'git', not {sink!r}")
    elif sink == "git":
        try:
            git = git_settings(get)
        except ConfigError as error:
            problems.append(str(error))
    http_port = port_number("HTTP_PORT", "3000")
    dashboard = port_number("DASHBOARD_PORT", None)
    intents_format = (get("INTENTS_FORMAT", "clientintents") or "clientintents").lower()
    if intents_format not in INTENTS_FORMATS:
        problems.append("CHATBOT_INTENTS_FORMAT must be 'clientintents' or 'networkpolicy', "
                        f"not {intents_format!r}")
    protocol = (get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") or "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        problems.append("CHATBOT_KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, "
                        f"SASL_PLAINTEXT or SASL_SSL, not {protocol!r}")
    include_dns = (get("HUBBLE_INCLUDE_DNS", "false") or "false").lower()
    if include_dns not in BOOLEANS:
        problems.append(f"CHATBOT_HUBBLE_INCLUDE_DNS must be true or false, not {include_dns!r}")
    log_level = (get("LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(f"CHATBOT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                        f"not {log_level!r}")
    if problems:
        raise ConfigProblems(problems)
    cafile = get("KAFKA_SSL_CAFILE")
    kubeconfig = get("KUBECONFIG")
    config = get("CONFIG")
    return Settings(
        kafka=KafkaSettings(
            bootstrap=get("KAFKA_BOOTSTRAP"),
            topic=get("KAFKA_TOPIC", "flow-anomalies") or "flow-anomalies",
            group=get("KAFKA_GROUP", "flow-approval-chatbot") or "flow-approval-chatbot",
            group_instance_id=get("KAFKA_GROUP_INSTANCE_ID"),
            dlq_topic=get("KAFKA_DLQ_TOPIC", "flow-anomalies.dlq") or "flow-anomalies.dlq",
            flows_topic=get("KAFKA_FLOWS_TOPIC"),
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
        git=git,
        intents_format=intents_format,
        http_host=get("HTTP_HOST", "0.0.0.0") or "0.0.0.0",  # noqa: S104 - serves Slack
        http_port=http_port or 3000,
        config_path=config_path or (Path(config) if config else None),
        log_level=log_level,
        hubble_cluster=get("HUBBLE_CLUSTER", "default") or "default",
        hubble_include_dns=BOOLEANS[include_dns],
        dashboard_port=dashboard,
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
