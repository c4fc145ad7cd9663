"""Kafka client settings: manual commits from the earliest offset, SASL/SSL when configured,
and a clear ConfigError (never a leaked secret) when the settings cannot work."""

from __future__ import annotations

import ssl
import time
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from chatbot.config.settings import KafkaSettings, Secret
from chatbot.errors import ConfigError
from chatbot.pipeline.kafka_clients import admin_kwargs, consumer_kwargs, producer_kwargs
from testbench.fixtures.kafka import TopicFactory
from testbench.kafka import KafkaBroker
from testbench.kube_pki import CertificateAuthority

PLAIN = KafkaSettings(bootstrap="kafka-0:9092,kafka-1:9092", group="approvals")


def secured(tmp_path: Path, **changes: object) -> KafkaSettings:
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(CertificateAuthority.create("kafka-test-ca").cert_pem)
    fields: dict[str, object] = {
        "bootstrap": "kafka:9093", "security_protocol": "SASL_SSL",
        "sasl_mechanism": "scram-sha-512", "sasl_username": "chatbot",
        "sasl_password": Secret("hunter2"), "ssl_cafile": cafile, **changes}
    return KafkaSettings(**fields)  # type: ignore[arg-type]


def test_the_consumer_commits_by_hand_from_the_earliest_offset() -> None:
    kwargs = consumer_kwargs(PLAIN, max_poll_records=200)

    assert kwargs["bootstrap_servers"] == "kafka-0:9092,kafka-1:9092"
    assert kwargs["group_id"] == "approvals"
    assert kwargs["enable_auto_commit"] is False
    assert kwargs["auto_offset_reset"] == "earliest"
    assert kwargs["isolation_level"] == "read_committed"
    assert kwargs["max_poll_records"] == 200
    assert "ssl_context" not in kwargs
    assert "sasl_plain_password" not in kwargs


def test_the_producer_waits_for_every_replica() -> None:
    kwargs = producer_kwargs(PLAIN)

    assert kwargs["acks"] == "all"
    assert kwargs["enable_idempotence"] is True


def test_sasl_over_ssl_trusts_the_configured_ca_and_reveals_the_password_only_here(
    tmp_path: Path,
) -> None:
    settings = secured(tmp_path)

    kwargs = consumer_kwargs(settings)

    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [cert["subject"] for cert in context.get_ca_certs()] == [
        ((("commonName", "kafka-test-ca"),),)]
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "chatbot"
    assert kwargs["sasl_plain_password"] == "hunter2"
    assert "hunter2" not in repr(settings)
    assert admin_kwargs(settings)["sasl_plain_password"] == "hunter2"


async def test_the_kwargs_are_accepted_by_the_aiokafka_clients(tmp_path: Path) -> None:
    for settings in (PLAIN, secured(tmp_path)):
        clients = [AIOKafkaConsumer(**consumer_kwargs(settings)),
                   AIOKafkaProducer(**producer_kwargs(settings)),
                   AIOKafkaAdminClient(**admin_kwargs(settings))]
        assert len(clients) == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bootstrap": None}, "CHATBOT_KAFKA_BOOTSTRAP is not set"),
        ({"sasl_password": None}, "needs CHATBOT_KAFKA_SASL_USERNAME and"),
        ({"sasl_username": None}, "needs CHATBOT_KAFKA_SASL_USERNAME and"),
        ({"sasl_mechanism": "GSSAPI"}, "CHATBOT_KAFKA_SASL_MECHANISM must be one of"),
        ({"ssl_cafile": Path("/nonexistent/ca.pem")}, "is not a readable file"),
    ],
    ids=["no bootstrap", "no password", "no user", "kerberos", "missing CA file"],
)
def test_settings_that_cannot_connect_are_refused_by_name(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        consumer_kwargs(secured(tmp_path, **changes))

    assert "hunter2" not in str(raised.value)


def test_a_ca_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")

    with pytest.raises(ConfigError, match="CHATBOT_KAFKA_SSL_CAFILE"):
        producer_kwargs(secured(tmp_path, ssl_cafile=garbage))


def test_static_membership_only_when_an_instance_id_is_given() -> None:
    assert "group_instance_id" not in consumer_kwargs(PLAIN)
    static = consumer_kwargs(replace(PLAIN, group_instance_id="chatbot-7d9f-x2k4q"))
    assert static["group_instance_id"] == "chatbot-7d9f-x2k4q"


@pytest.mark.bench
async def test_a_static_member_that_comes_back_gets_its_partitions_without_waiting(
        kafka_broker: KafkaBroker, new_topic: TopicFactory) -> None:
    """A replica restarted under the same name (the pod's, after kill -9 or an OOM) is back
    consuming at once; without static membership the group would first wait out the dead
    member's session (10 s) before a rebalance could hand its partitions on."""
    topic = await new_topic(partitions=2)
    settings = KafkaSettings(bootstrap=kafka_broker.bootstrap, group=f"{topic}-bot",
                             group_instance_id="bot-0")
    first = await assigned(settings, topic)
    # No LeaveGroup for a static member, stopped or crashed: the group keeps its place.
    await first.stop()
    started = time.monotonic()
    again = await assigned(settings, topic)
    try:
        assert time.monotonic() - started < SESSION_TIMEOUT_S / 2
        assert {tp.partition for tp in again.assignment()} == {0, 1}
    finally:
        await again.stop()


SESSION_TIMEOUT_S = 10.0


async def assigned(settings: KafkaSettings, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(**consumer_kwargs(settings),
                                session_timeout_ms=int(SESSION_TIMEOUT_S * 1000))
    await consumer.start()
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment():
        assert time.monotonic() < deadline, "never assigned"
        await consumer.getmany(timeout_ms=200)
    return consumer
