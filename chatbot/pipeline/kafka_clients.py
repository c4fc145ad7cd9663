"""Keyword arguments for aiokafka's consumer, producer and admin client, built from
:class:`KafkaSettings` by the composition root (the only place Kafka clients are made).

This is the one module that reveals the SASL password; the dicts it returns go straight
into the client constructors and must never be logged.
"""

from __future__ import annotations

import ssl
from typing import Literal

from aiokafka.helpers import create_ssl_context

from chatbot.config.settings import KafkaSettings
from chatbot.errors import ConfigError

IsolationLevel = Literal["read_committed", "read_uncommitted"]
SASL_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})
CLIENT_ID = "flow-approval-chatbot"


def consumer_kwargs(
    settings: KafkaSettings,
    *,
    isolation_level: IsolationLevel = "read_committed",
    max_poll_records: int = 500,
    max_poll_interval_ms: int = 300_000,
    max_partition_fetch_bytes: int = 4 * 1024 * 1024,
) -> dict[str, object]:
    """Manual commits only: offsets move when the pipeline says a batch is stored. A fetch
    brings up to 4 MiB per partition (aiokafka's default is 1 MiB, ~5,000 events), so a
    busy partition fills the pipeline's large batches (consumer.MAX_RECORDS).

    With ``group_instance_id`` (static membership, the pod name in the chart) a replica that
    crashed and comes back under the same name gets its partitions back at once, without a
    rebalance of the whole group; one that stays away loses them after the session timeout.
    """
    kwargs: dict[str, object] = {
        **_connection(settings),
        "group_id": settings.group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": isolation_level,
        "max_poll_records": max_poll_records,
        "max_poll_interval_ms": max_poll_interval_ms,
        "max_partition_fetch_bytes": max_partition_fetch_bytes,
    }
    if settings.group_instance_id:
        kwargs["group_instance_id"] = settings.group_instance_id
    return kwargs


def producer_kwargs(settings: KafkaSettings, *, linger_ms: int = 5) -> dict[str, object]:
    """A dead-letter record counts as stored, so the broker must have all replicas of it."""
    return {
        **_connection(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": linger_ms,
    }


def admin_kwargs(settings: KafkaSettings) -> dict[str, object]:
    return _connection(settings)


def _connection(settings: KafkaSettings) -> dict[str, object]:
    if not settings.bootstrap:
        raise ConfigError("CHATBOT_KAFKA_BOOTSTRAP is not set")
    protocol = settings.security_protocol
    kwargs: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap,
        "client_id": CLIENT_ID,
        "security_protocol": protocol,
    }
    if protocol in {"SSL", "SASL_SSL"}:
        kwargs["ssl_context"] = _ssl_context(settings)
    if protocol.startswith("SASL_"):
        kwargs.update(_sasl(settings))
    return kwargs


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    cafile = settings.ssl_cafile
    if cafile is not None and not cafile.is_file():
        raise ConfigError(f"CHATBOT_KAFKA_SSL_CAFILE {str(cafile)!r} is not a readable file")
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(cafile) if cafile is not None else None)
    except ssl.SSLError as exc:
        raise ConfigError(f"CHATBOT_KAFKA_SSL_CAFILE {str(cafile)!r}: {exc}") from exc
    return context


def _sasl(settings: KafkaSettings) -> dict[str, object]:
    mechanism = (settings.sasl_mechanism or "PLAIN").upper()
    if mechanism not in SASL_MECHANISMS:
        raise ConfigError("CHATBOT_KAFKA_SASL_MECHANISM must be one of "
                          + ", ".join(sorted(SASL_MECHANISMS)))
    if not settings.sasl_username or not settings.sasl_password:
        raise ConfigError(f"SASL ({mechanism}) needs CHATBOT_KAFKA_SASL_USERNAME and "
                          "CHATBOT_KAFKA_SASL_PASSWORD")
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": settings.sasl_username,
        "sasl_plain_password": settings.sasl_password.reveal(),
    }
