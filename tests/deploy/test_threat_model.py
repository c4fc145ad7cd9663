"""The threat model is part of what ships: the README's section shows the component diagram
(an SVG in the repository that parses), recommends Kafka ACLs for the topics and group the
chart really uses, and lists the credentials of every part."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import yaml

from tests.deploy.chart import CHART, REPO

SVG = "{http://www.w3.org/2000/svg}"


def threat_model() -> str:
    return (REPO / "README.md").read_text().split("## Threat model", 1)[1].split("\n## ", 1)[0]


def test_the_diagram_is_in_the_repository_and_shows_the_boundaries_and_credentials() -> None:
    [image] = re.findall(r"!\[[^\]]+\]\(([^)]+\.svg)\)", threat_model())
    root = ET.parse(REPO / image).getroot()  # noqa: S314 - our own file
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert root.find(f"{SVG}title") is not None
    for part in ("Flow sensors", "Kafka", "flow-approval-chatbot", "PostgreSQL", "Redis",
                 "kube-apiserver", "Slack Web API", "Approvers", "Gitea / GitHub"):
        assert part in text, part
    for credential in ("ServiceAccount", "bot token", "signing secret", "app token",
                       "git token", "WRITE flow-anomalies"):
        assert credential in text, credential
    assert "trust boundary" in text


def test_the_kafka_acls_name_the_topics_and_group_the_chart_uses() -> None:
    kafka = yaml.safe_load((CHART / "values.yaml").read_text())["kafka"]
    section = threat_model()
    header = next(line for line in section.splitlines() if line.startswith("| principal"))
    for name in (kafka["topic"], kafka["dlqTopic"], kafka["group"]):
        assert f"`{name}`" in header, name
    assert "`kafka.flowsTopic`" in header  # optional, so the chart names no default
    assert "| the sensor(s) | WRITE, DESCRIBE | — | — | — |" in section
    assert "| the Hubble shipper (Fluent Bit or Vector) | — | WRITE, DESCRIBE | — | — |" in section
    assert "| the bot | READ, DESCRIBE | READ, DESCRIBE | WRITE, DESCRIBE | READ |" in section
