"""The shipper configurations in deploy/sensors/ as a person meets them: the README's
"Connecting your sensor" shows exactly these files, and Cilium's exporter, Fluent Bit and
Vector agree on the file, the brokers and the topic.

Neither Fluent Bit nor Vector can be installed on this project's machines (README, "Connecting
your sensor"), so their own validators cannot run here: what is checked is what can be read
without them — the YAML parses, the classic Fluent Bit format has the shape Fluent Bit reads,
and the values line up with each other and with the chart.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from chatbot.events.hubble_outcome import SkipReason
from tests.deploy.chart import CHART, REPO

SENSORS = REPO / "deploy" / "sensors"
FILES = ("cilium-hubble-export.yaml", "fluent-bit.conf", "vector.yaml")
FLOWS_TOPIC = "hubble-flows"

Sections = list[tuple[str, dict[str, str]]]


def sensor_section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split("\n## Connecting your sensor\n", 1)[1].split("\n## ", 1)[0]


def fenced_blocks(text: str) -> list[str]:
    return [body for body in re.findall(r"^```[a-z]*\n(.*?)^```$", text, re.M | re.S)]


def fluent_bit_sections(text: str) -> Sections:
    """Fluent Bit's classic format: ``[SECTION]`` headers, then indented ``Key Value`` lines;
    keys are case-insensitive, ``#`` starts a comment line."""
    sections: Sections = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        header = re.fullmatch(r"\[([A-Z]+)\]", line)
        if header:
            sections.append((header.group(1), {}))
            continue
        entry = re.fullmatch(r" {4}(\S+) +(\S.*)", line)
        assert entry and sections, f"fluent-bit.conf line {number} is not `    Key Value`: {line!r}"
        key = entry.group(1).lower()
        assert key not in sections[-1][1], f"fluent-bit.conf line {number} repeats {key}"
        sections[-1][1][key] = entry.group(2)
    return sections


def one_section(sections: Sections, name: str) -> dict[str, str]:
    found = [entries for section, entries in sections if section == name]
    assert len(found) == 1, f"expected one [{name}], got {len(found)}"
    return found[0]


def load(name: str) -> Any:
    return yaml.safe_load((SENSORS / name).read_text())


def exporter_file() -> str:
    path: str = load("cilium-hubble-export.yaml")["hubble"]["export"]["static"]["filePath"]
    return path


def test_the_readme_shows_every_sensor_file_as_it_is() -> None:
    section = sensor_section()
    blocks = fenced_blocks(section)
    assert sorted(p.name for p in SENSORS.iterdir()) == sorted(FILES)
    for name in FILES:
        assert f"`deploy/sensors/{name}`" in section, name
        assert (SENSORS / name).read_text() in blocks, f"README snippet differs from {name}"


def test_the_exporter_writes_the_file_the_shippers_read() -> None:
    static = load("cilium-hubble-export.yaml")["hubble"]["export"]["static"]
    assert static["enabled"] is True
    assert static["denyList"] == ['{"reply":[true]}']
    tail = one_section(fluent_bit_sections((SENSORS / "fluent-bit.conf").read_text()), "INPUT")
    assert tail["name"] == "tail" and tail["path"] == exporter_file()
    [source] = load("vector.yaml")["sources"].values()
    assert source["type"] == "file" and source["include"] == [exporter_file()]


def test_fluent_bit_sends_each_line_unchanged_to_the_flows_topic() -> None:
    sections = fluent_bit_sections((SENSORS / "fluent-bit.conf").read_text())
    assert [name for name, _ in sections] == ["SERVICE", "INPUT", "OUTPUT"]
    tail, kafka = one_section(sections, "INPUT"), one_section(sections, "OUTPUT")
    assert "parser" not in tail  # the line must stay a string under `key`
    assert kafka["name"] == "kafka" and kafka["match"] == tail["tag"]
    assert kafka["format"] == "raw" and kafka["raw_log_key"] == tail["key"]
    assert kafka["topics"] == FLOWS_TOPIC
    assert kafka["brokers"] == default_bootstrap()


def test_vector_sends_each_line_unchanged_to_the_flows_topic() -> None:
    config = load("vector.yaml")
    [(source_name, source)] = config["sources"].items()
    [sink] = config["sinks"].values()
    assert sink["type"] == "kafka" and sink["inputs"] == [source_name]
    assert sink["encoding"] == {"codec": "text"}  # the message: the exporter's line
    assert sink["topic"] == FLOWS_TOPIC
    assert sink["bootstrap_servers"] == default_bootstrap()
    assert sink["acknowledgements"] == {"enabled": True}
    # Over the service's own record limit (256 KiB), so an oversize flow reaches the
    # dead-letter topic with a reason instead of vanishing in the shipper.
    assert source["max_line_bytes"] > 256 * 1024


def default_bootstrap() -> str:
    bootstrap: str = yaml.safe_load((CHART / "values.yaml").read_text())["kafka"]["bootstrap"]
    return bootstrap


def test_the_readme_names_every_skip_reason_and_setting() -> None:
    section = sensor_section()
    for reason in SkipReason:
        assert f"`{reason.value}`" in section, reason
    for name in ("CHATBOT_KAFKA_FLOWS_TOPIC", "CHATBOT_HUBBLE_CLUSTER",
                 "CHATBOT_HUBBLE_INCLUDE_DNS", "hubble_flows_skipped_total",
                 "flows_covered_total", "chatbot import-intents"):
        assert name in section, name
