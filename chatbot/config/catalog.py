"""Every ``CHATBOT_*`` setting in one table: its default, what it means and which commands
read it. ``chatbot <command> --help`` prints the command's rows (a pip-installed user has no
README), and tests keep this table, :func:`settings_from_env`'s defaults and the README's
settings table in step.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

SERVE, CHECK, MIGRATE, PRODUCE = "serve", "check-config", "migrate", "produce"
_RUNS = frozenset({SERVE, CHECK})  # check-config checks exactly what serve would use


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str
    """As shown to a person: a value, or a word in parentheses (``(required)``, ``(off)``)."""
    meaning: str
    commands: frozenset[str] = _RUNS
    secret: bool = False


REQUIRED = "(required)"
NONE = "(not set)"

VARIABLES: tuple[Variable, ...] = (
    Variable("CHATBOT_KAFKA_BOOTSTRAP", REQUIRED, "host:port[,host:port…] of the brokers",
             _RUNS | {PRODUCE}),
    Variable("CHATBOT_KAFKA_TOPIC", "flow-anomalies", "topic the sensors write anomalies to",
             _RUNS | {PRODUCE}),
    Variable("CHATBOT_KAFKA_GROUP", "flow-approval-chatbot",
             "consumer group (replicas share it)"),
    Variable("CHATBOT_KAFKA_GROUP_INSTANCE_ID", NONE,
             "static group membership: a name stable across restarts of one replica (the "
             "chart sets the pod name), so a restarted replica gets its partitions back "
             "without a rebalance; unset: dynamic membership"),
    Variable("CHATBOT_KAFKA_FLOWS_TOPIC", "(not set: no Hubble intake)",
             "topic carrying Cilium Hubble flows as the exporter or hubble observe -o json "
             "writes them; read by the same consumer group, bad records to "
             "CHATBOT_KAFKA_DLQ_TOPIC"),
    Variable("CHATBOT_KAFKA_DLQ_TOPIC", "flow-anomalies.dlq",
             "bad events, original bytes, reason in header x-dlq-reason"),
    Variable("CHATBOT_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT",
             "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", _RUNS | {PRODUCE}),
    Variable("CHATBOT_KAFKA_SASL_MECHANISM", "PLAIN",
             "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol)",
             _RUNS | {PRODUCE}),
    Variable("CHATBOT_KAFKA_SASL_USERNAME", NONE, "SASL user name", _RUNS | {PRODUCE}),
    Variable("CHATBOT_KAFKA_SASL_PASSWORD", NONE, "SASL password", _RUNS | {PRODUCE},
             secret=True),
    Variable("CHATBOT_KAFKA_SSL_CAFILE", "(system CAs)",
             "PEM file of the CA that signed the brokers' certificates", _RUNS | {PRODUCE}),
    Variable("CHATBOT_DATABASE_URL", "sqlite+aiosqlite:///chatbot.db",
             "or postgresql+asyncpg://user:password@host:5432/db", _RUNS | {MIGRATE},
             secret=True),
    Variable("CHATBOT_REDIS_URL", NONE,
             "redis://… or rediss://…; the lease that lets one of several replicas run "
             "the escalation timer",
             secret=True),
    Variable("CHATBOT_SLACK_BOT_TOKEN", REQUIRED, "the bot token, xoxb-…", secret=True),
    Variable("CHATBOT_SLACK_SIGNING_SECRET", REQUIRED,
             "verifies every request from Slack (v0 signature, 5-minute window)", secret=True),
    Variable("CHATBOT_SLACK_APP_TOKEN", NONE, "xapp-…: Slack over Socket Mode instead of HTTP",
             secret=True),
    Variable("CHATBOT_SLACK_API_URL", "https://slack.com/api/",
             "base URL of the Slack Web API (any Slack-compatible endpoint)"),
    Variable("CHATBOT_HUBBLE_CLUSTER", "default",
             "the cluster name of Hubble flows that name none (Cilium's cluster.name)"),
    Variable("CHATBOT_HUBBLE_INCLUDE_DNS", "false",
             "true: flows to and from kube-dns become anomalies like any other"),
    Variable("CHATBOT_KUBECONFIG", "(in-cluster config)",
             "kubeconfig for the ClientIntents writes, the ClientIntents watch and the "
             "owner look-ups of Hubble flows"),
    Variable("CHATBOT_INTENTS_SINK", "kubernetes",
             "kubernetes (ClientIntents through the API), directory:<path> (YAML files) or "
             "git (pull requests on a forge, CHATBOT_GIT_*)"),
    Variable("CHATBOT_GIT_URL", NONE, "git sink: the repository's http(s) clone URL, without "
             "credentials"),
    Variable("CHATBOT_GIT_FORGE", "(github for github.com)", "gitea (also Forgejo) or github"),
    Variable("CHATBOT_GIT_API_URL", "(the forge's)", "the forge's REST API"),
    Variable("CHATBOT_GIT_TOKEN", NONE, "pushes the bot branch and opens pull requests",
             secret=True),
    Variable("CHATBOT_GIT_BASE_BRANCH", "main", "the branch pull requests go into"),
    Variable("CHATBOT_GIT_FOLDER", "intents", "the folder inside the repository"),
    Variable("CHATBOT_GIT_BATCH_SECONDS", "60", "approvals inside this window share a PR"),
    Variable("CHATBOT_GIT_POLL_SECONDS", "30", "how often open pull requests are polled"),
    Variable("CHATBOT_GIT_WEBHOOK_SECRET", NONE, "turns on POST /forge/webhook", secret=True),
    Variable("CHATBOT_GIT_WORKDIR", "(<tmp>/chatbot-git)", "where the working copy lives"),
    Variable("CHATBOT_INTENTS_FORMAT", "clientintents",
             "clientintents or networkpolicy (native NetworkPolicies; reads pod selectors "
             "through CHATBOT_KUBECONFIG, also with the directory sink)"),
    Variable("CHATBOT_CONFIG", REQUIRED,
             "the rules file (channels, routes, approvers, escalation, quorum); --config FILE "
             "overrides it"),
    Variable("CHATBOT_HTTP_HOST", "0.0.0.0",  # noqa: S104 - what serve binds, to serve Slack
             "where /slack/events and the probes listen"),
    Variable("CHATBOT_HTTP_PORT", "3000", "port of /slack/events, /healthz, /readyz, /metrics"),
    Variable("CHATBOT_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR; JSON lines on stderr"),
    Variable("CHATBOT_DASHBOARD_PORT", "(off)", "also show the review page, read-only, here"),
    Variable("CHATBOT_DASHBOARD_HOST", "127.0.0.1", "where the dashboard binds"),
    Variable("CHATBOT_DASHBOARD_HOSTS", NONE,
             "extra host:port names the dashboard answers to (behind a port-forward)"),
)


def variables_for(command: str) -> tuple[Variable, ...]:
    return tuple(v for v in VARIABLES if command in v.commands)


def settings_help(command: str, *, width: int = 78) -> str:
    """The settings block of ``chatbot <command> --help``."""
    lines = ["settings (environment variables; secrets only from the environment, never "
             "logged):"]
    for variable in variables_for(command):
        shown = (variable.default[1:-1] if variable.default.startswith("(")
                 else f"default {variable.default}")
        lines.append(f"  {variable.name}  ({shown}{', secret' if variable.secret else ''})")
        lines += textwrap.wrap(variable.meaning, width=width, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)
    return "\n".join(lines)
