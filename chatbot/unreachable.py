"""One readable line for a dependency that does not answer: where it is (never a password)
and what happened — "cannot reach Kafka at kafka:9092: no broker answered". The CLI prints
it instead of a traceback, ``serve`` logs it with every retry and shows it on ``/readyz``.

Each function returns None for an error that is not about reaching the dependency (a bug, a
bad migration): those are not retried and not dressed up.
"""

from __future__ import annotations

import socket

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from aiokafka.errors import KafkaConnectionError, KafkaError
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

REFUSED_TOKEN = frozenset({"invalid_auth", "not_authed", "not_allowed_token_type",
                           "account_inactive", "token_revoked", "token_expired"})
_DATABASE_ERRORS = (OSError, TimeoutError, OperationalError, InterfaceError,
                    asyncpg.PostgresConnectionError, asyncpg.InvalidAuthorizationSpecificationError,
                    asyncpg.InvalidCatalogNameError, asyncpg.CannotConnectNowError,
                    asyncpg.TooManyConnectionsError)


def database_location(url: str) -> str:
    """``host:port (URL with the password hidden)``, or the SQLite file."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(an unreadable URL)"
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite file {parsed.database}"
    where = f"{parsed.host}:{parsed.port or 5432}"
    return f"{where} ({parsed.render_as_string(hide_password=True)})"


def database_problem(url: str, error: BaseException) -> str | None:
    if not isinstance(error, _DATABASE_ERRORS):
        return None
    return f"cannot reach the database at {database_location(url)}: {cause(error)}"


def kafka_problem(bootstrap: str | None, error: BaseException) -> str | None:
    where = f"cannot reach Kafka at {bootstrap}"
    if isinstance(error, KafkaConnectionError):
        return f"{where}: no broker answered"
    if isinstance(error, KafkaError | OSError | TimeoutError):
        return f"{where}: {cause(error)}"
    return None


def slack_problem(api_url: str, error: BaseException) -> str | None:
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error", "")) or f"HTTP {error.response.status_code}"
        if code in REFUSED_TOKEN:
            return f"Slack refused CHATBOT_SLACK_BOT_TOKEN ({code})"
        return f"Slack at {api_url} answered {code}"
    if isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
        return f"cannot reach Slack at {api_url}: {cause(error)}"
    return None


def cause(error: BaseException) -> str:
    """The error in a few words: the OS's reason for socket errors, the driver's message
    (without SQLAlchemy's SQL and background link) for database ones."""
    if isinstance(error, OperationalError | InterfaceError) and error.orig is not None:
        error = error.orig
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "host name not known"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
