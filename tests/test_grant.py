"""What Approve opens, in words, per output kind: the card tells the grant, not the flow."""

from __future__ import annotations

import pytest

from chatbot.config.risk import Enforcement
from chatbot.events.model import HttpCall, InternetTarget, KafkaTarget, KubernetesTarget, Workload
from chatbot.grant import grant_lines

WEB = Workload(name="web", namespace="rps", kind="Deployment")
POSTGRES = KubernetesTarget(name="stats-postgres", namespace="rps", kind="StatefulSet",
                            port=5432, protocol="TCP")
GAMES = KubernetesTarget(name="game-api", namespace="rps", kind="Service", port=8080,
                         protocol="TCP", http=HttpCall("/api/v1/games", "GET"))
TOPIC = KafkaTarget(name="kafka", namespace="kafka", topic="match-results", operation="consume")
SEGMENT = InternetTarget(domain="api.segment.io", ip=None, port=443, protocol="TCP")
RAW_IP = InternetTarget(domain=None, ip="185.220.101.34", port=4444, protocol="TCP")
CLIENTINTENTS = Enforcement()
NETWORKPOLICY = Enforcement(format="networkpolicy")


def text(*lines: str) -> str:
    return " ".join(lines)


def test_clientintents_open_every_port_of_an_in_cluster_target() -> None:
    said = text(*grant_lines(WEB, POSTGRES, CLIENTINTENTS))
    assert "every port of StatefulSet rps/stats-postgres" in said
    assert "carries no port (the flow used 5432/TCP)" in said


@pytest.mark.parametrize(("mesh", "enforced"), [(None, False), ("istio", True),
                                                ("linkerd", True)])
def test_an_http_rule_holds_only_where_a_mesh_enforces_it(mesh: str | None,
                                                          enforced: bool) -> None:
    said = text(*grant_lines(WEB, GAMES, Enforcement(mesh=mesh)))
    assert "every port of Service rps/game-api" in said
    if enforced:
        assert f"{str(mesh).title()} enforces the HTTP rule: only GET /api/v1/games" in said
    else:
        assert "GET /api/v1/games is written but not enforced" in said
        assert "every path and method is open" in said


def test_kafka_topics_hold_only_with_otterizes_kafka_integration() -> None:
    without = text(*grant_lines(WEB, TOPIC, CLIENTINTENTS))
    assert "every topic and operation" in without
    assert "enforced only with Otterize's Kafka integration, which is not configured" in without
    with_it = text(*grant_lines(WEB, TOPIC, Enforcement(kafka=True)))
    assert "limits it to topic match-results (consume)" in with_it


def test_internet_targets_hold_only_with_otterizes_egress_support() -> None:
    without = text(*grant_lines(WEB, SEGMENT, CLIENTINTENTS))
    assert "api.segment.io is written but not enforced" in without
    assert "without Otterize's egress support" in without
    with_it = text(*grant_lines(WEB, RAW_IP, Enforcement(egress=True)))
    assert "reach 185.220.101.34 on port 4444" in with_it


def test_networkpolicy_is_exact_about_ports_and_blind_above_them() -> None:
    postgres = text(*grant_lines(WEB, POSTGRES, NETWORKPOLICY))
    assert "from exactly the pods of rps/web" in postgres and "port 5432/TCP only" in postgres
    assert "deny-by-default" in postgres
    games = text(*grant_lines(WEB, GAMES, NETWORKPOLICY))
    assert "HTTP GET /api/v1/games is not enforced: NetworkPolicy allows the whole port" in games
    no_port = KubernetesTarget(name="x", namespace="rps", kind=None, port=None, protocol=None)
    assert "every port (the flow carried none)" in text(*grant_lines(WEB, no_port, NETWORKPOLICY))
    topic = text(*grant_lines(WEB, TOPIC, NETWORKPOLICY))
    assert "port 9092 for every topic" in topic
    assert "to exactly 185.220.101.34 on port 4444" in text(*grant_lines(WEB, RAW_IP,
                                                                          NETWORKPOLICY))
    both = InternetTarget(domain="api.stripe.com", ip="203.0.113.7", port=443, protocol="TCP")
    assert "api.stripe.com is not enforced: only the IP" in text(*grant_lines(WEB, both,
                                                                              NETWORKPOLICY))
    assert "Approve will fail" in text(*grant_lines(WEB, SEGMENT, NETWORKPOLICY))
