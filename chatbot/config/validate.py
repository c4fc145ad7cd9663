"""Can these settings work? Every problem, named by its key, before anything is started or
created: ``serve`` refuses to start on any of them (and creates no database file first),
``check-config`` prints them and exits non-zero, as a CI gate.

Offline only — files and shapes, no network; ``chatbot/checks_online.py`` asks the live
parts (Slack, Kafka, the database, the apiserver).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from chatbot.config.lint import rules_problems
from chatbot.config.load import load_rules
from chatbot.config.rules import Rules
from chatbot.config.settings import Settings
from chatbot.errors import ConfigError, ConfigProblems

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
DATABASE_SCHEMES = {"sqlite+aiosqlite": "SQLite", "postgresql+asyncpg": "PostgreSQL"}
REDIS_SCHEMES = ("redis", "rediss", "unix")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def in_cluster(env: Mapping[str, str] | None = None,
               token: Path = SERVICE_ACCOUNT_TOKEN) -> bool:
    """Whether the pod's ServiceAccount configuration is there (what the client loads)."""
    env = os.environ if env is None else env
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and token.is_file()


def problems_for_serve(settings: Settings, *, cluster_config: bool) -> tuple[list[str],
                                                                              Rules | None]:
    """Everything that would stop ``serve`` from working, and the rules when they load."""
    found = settings_problems(settings, cluster_config=cluster_config)
    rules, rule_problems = rules_file_problems(settings.config_path)
    return found + rule_problems, rules


def rules_file_problems(path: Path | None) -> tuple[Rules | None, list[str]]:
    if path is None:
        return None, ["CHATBOT_CONFIG is not set (or pass --config FILE): without a rules "
                      "file nobody may approve any flow"]
    try:
        rules = load_rules(path)
    except ConfigProblems as error:
        return None, list(error.problems)
    except ConfigError as error:
        return None, [str(error)]
    return rules, rules_problems(rules, source=str(path))


def settings_problems(settings: Settings, *, cluster_config: bool) -> list[str]:
    return [*_kafka(settings), *_slack(settings), *_storage(settings),
            *_sink(settings, cluster_config=cluster_config), *_http(settings)]


def bootstrap_problems(bootstrap: str | None) -> list[str]:
    if not bootstrap:
        return ["CHATBOT_KAFKA_BOOTSTRAP is not set: host:port of at least one broker"]
    problems = []
    for address in (part.strip() for part in bootstrap.split(",")):
        host, colon, port = address.rpartition(":")
        if not colon or not host:
            problems.append(f"CHATBOT_KAFKA_BOOTSTRAP: {address!r} has no port "
                            "(host:port[,host:port…], e.g. kafka:9092)")
        elif not port.isdigit() or not 0 < int(port) <= 65535:
            problems.append(f"CHATBOT_KAFKA_BOOTSTRAP: {address!r} has no valid port number")
    return problems


def _kafka(settings: Settings) -> list[str]:
    kafka = settings.kafka
    problems = bootstrap_problems(kafka.bootstrap)
    if kafka.topic == kafka.dlq_topic:
        problems.append("CHATBOT_KAFKA_DLQ_TOPIC must differ from CHATBOT_KAFKA_TOPIC: bad "
                        "events would be read again forever")
    if kafka.flows_topic in (kafka.topic, kafka.dlq_topic):
        problems.append("CHATBOT_KAFKA_FLOWS_TOPIC must differ from CHATBOT_KAFKA_TOPIC and "
                        "CHATBOT_KAFKA_DLQ_TOPIC: Hubble flows and schema-v1 anomalies are read "
                        "differently")
    if kafka.security_protocol.startswith("SASL_"):
        mechanism = (kafka.sasl_mechanism or "PLAIN").upper()
        if mechanism not in SASL_MECHANISMS:
            problems.append(f"CHATBOT_KAFKA_SASL_MECHANISM must be one of "
                            f"{', '.join(SASL_MECHANISMS)}, not {mechanism!r}")
        if not kafka.sasl_username or not kafka.sasl_password:
            problems.append(f"CHATBOT_KAFKA_SECURITY_PROTOCOL={kafka.security_protocol} needs "
                            "CHATBOT_KAFKA_SASL_USERNAME and CHATBOT_KAFKA_SASL_PASSWORD")
    if kafka.ssl_cafile is not None and not kafka.ssl_cafile.is_file():
        problems.append(f"CHATBOT_KAFKA_SSL_CAFILE: {kafka.ssl_cafile} is not a readable file")
    return problems


def _slack(settings: Settings) -> list[str]:
    slack = settings.slack
    problems = []
    if not slack.bot_token:
        problems.append("CHATBOT_SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) from the "
                        "Slack app's OAuth page")
    elif not slack.bot_token.reveal().startswith("xoxb-"):
        problems.append("CHATBOT_SLACK_BOT_TOKEN must be a bot token (xoxb-…); user (xoxp-) "
                        "and app-level (xapp-) tokens cannot post as the bot")
    if not slack.signing_secret:
        problems.append("CHATBOT_SLACK_SIGNING_SECRET is not set: without it no request from "
                        "Slack can be verified")
    if slack.app_token and not slack.app_token.reveal().startswith("xapp-"):
        problems.append("CHATBOT_SLACK_APP_TOKEN must be an app-level token (xapp-…) with "
                        "the connections:write scope")
    url = urlsplit(slack.api_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        problems.append(f"CHATBOT_SLACK_API_URL must be an http(s) URL, not "
                        f"{slack.api_url!r}")
    return problems


def _storage(settings: Settings) -> list[str]:
    problems = database_problems(settings)
    if settings.redis_url:
        redis = settings.redis_url.reveal()
        if urlsplit(redis).scheme not in REDIS_SCHEMES:
            problems.append("CHATBOT_REDIS_URL must start with redis://, rediss:// or unix://")
    return problems


def database_problems(settings: Settings) -> list[str]:
    problems = []
    url = settings.database_url.reveal()
    scheme, _, rest = url.partition("://")
    if scheme not in DATABASE_SCHEMES:
        problems.append(
            f"CHATBOT_DATABASE_URL: {scheme or url!r} is not supported; use "
            "sqlite+aiosqlite:///path/to/chatbot.db or "
            "postgresql+asyncpg://user:password@host:5432/db")
    elif scheme == "sqlite+aiosqlite":
        path = Path(rest.removeprefix("/").split("?", 1)[0])
        if str(path) in ("", ":memory:"):
            problems.append("CHATBOT_DATABASE_URL: an in-memory SQLite database would lose "
                            "every decision at the next restart")
        elif not path.parent.is_dir():
            problems.append(f"CHATBOT_DATABASE_URL: the folder of the SQLite file "
                            f"{path.parent} does not exist")
    elif not urlsplit(url).hostname:
        problems.append("CHATBOT_DATABASE_URL: a PostgreSQL URL needs a host "
                        "(postgresql+asyncpg://user:password@host:5432/db)")
    return problems


def _sink(settings: Settings, *, cluster_config: bool) -> list[str]:
    directory = settings.intents_directory
    problems = []
    if directory is not None:
        existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
            problems.append(f"CHATBOT_INTENTS_SINK: cannot create or write {directory} "
                            f"({existing} is not a writable folder)")
        if settings.intents_format != "networkpolicy":
            return problems  # YAML files only: no cluster needed
    if settings.intents_sink == "git" and settings.intents_format != "networkpolicy":
        return problems  # files in a repository: no cluster needed
    cluster_sink = directory is None and settings.intents_sink != "git"
    needs = ("CHATBOT_INTENTS_SINK=kubernetes" if cluster_sink else
             "CHATBOT_INTENTS_FORMAT=networkpolicy (it reads pod selectors from the cluster)")
    if settings.kubeconfig is not None:
        if not settings.kubeconfig.is_file():
            problems.append(f"CHATBOT_KUBECONFIG: {settings.kubeconfig} is not a readable file")
    elif not cluster_config:
        problems.append(
            f"{needs} needs CHATBOT_KUBECONFIG, or the in-cluster configuration of a pod's "
            f"ServiceAccount (KUBERNETES_SERVICE_HOST and {SERVICE_ACCOUNT_TOKEN}), and "
            "neither is there" + ("; or write YAML files with "
                                  "CHATBOT_INTENTS_SINK=directory:<path>" if cluster_sink
                                  else ""))
    return problems


def _http(settings: Settings) -> list[str]:
    problems = []
    if settings.dashboard_port is not None and settings.dashboard_port == settings.http_port:
        problems.append(f"CHATBOT_DASHBOARD_PORT and CHATBOT_HTTP_PORT are both "
                        f"{settings.http_port}: the dashboard needs a port of its own")
    for host in settings.dashboard_hosts:
        name, colon, port = host.rpartition(":")
        if not colon or not name or not port.isdigit():
            problems.append(f"CHATBOT_DASHBOARD_HOSTS: {host!r} is not host:port")
    return problems
