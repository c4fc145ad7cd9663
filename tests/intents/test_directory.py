"""The GitOps directory sink: one YAML file per client workload, merged like the cluster's."""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot.errors import TemporaryError
from chatbot.events.model import InternetTarget, KubernetesTarget, Workload
from chatbot.intents.directory import DirectorySink
from chatbot.intents.document import ANOMALY_IDS, ApprovalNote

CHECKOUT = Workload(name="checkout", namespace="shop", kind="Deployment")


def note(anomaly_id: str) -> ApprovalNote:
    return ApprovalNote(anomaly_id, "U024BE7LH", datetime(2025, 3, 1, tzinfo=UTC))


def service(name: str) -> KubernetesTarget:
    return KubernetesTarget(name=name, namespace="shop", kind="Service", port=80, protocol="TCP")


def read(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


async def test_an_approval_writes_one_file_per_workload(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path / "intents")

    applied = await sink.apply(client=CHECKOUT, target=service("cart"), note=note("a-1"))

    file = tmp_path / "intents" / "checkout.shop.yaml"
    assert applied.object_ref == str(file)
    assert applied.changed
    assert read(file) == applied.document
    assert applied.document["spec"] == {
        "workload": {"name": "checkout", "kind": "Deployment"},
        "targets": [{"service": {"name": "cart"}}],
    }
    assert stat.S_IMODE(file.stat().st_mode) == 0o644
    assert [path.name for path in file.parent.iterdir()] == ["checkout.shop.yaml"]


async def test_the_file_reads_like_a_manifest(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path)
    await sink.apply(client=CHECKOUT, target=service("cart"), note=note("1234"))

    text = (tmp_path / "checkout.shop.yaml").read_text()

    assert text.startswith("apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n")
    assert "anomaly-ids: '1234'" in text  # quoted, so it stays a string


async def test_a_second_approval_merges_into_the_same_file(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path)
    stripe = InternetTarget(domain="api.stripe.com", ip=None, port=443, protocol="TCP")

    await sink.apply(client=CHECKOUT, target=service("cart"), note=note("a-1"))
    applied = await sink.apply(client=CHECKOUT, target=stripe, note=note("a-2"))

    document = read(tmp_path / "checkout.shop.yaml")
    assert applied.changed
    assert document["spec"]["targets"] == [
        {"service": {"name": "cart"}},
        {"internet": {"domains": ["api.stripe.com"], "ports": [443]}},
    ]
    assert document["metadata"]["annotations"][ANOMALY_IDS] == "a-1,a-2"


async def test_an_approval_already_in_the_file_leaves_it_untouched(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path)
    await sink.apply(client=CHECKOUT, target=service("cart"), note=note("a-1"))
    file = tmp_path / "checkout.shop.yaml"
    before = file.stat().st_mtime_ns, file.read_text()

    applied = await sink.apply(client=CHECKOUT, target=service("cart"), note=note("a-2"))

    assert not applied.changed
    assert (file.stat().st_mtime_ns, file.read_text()) == before


async def test_a_hand_written_file_keeps_its_targets(tmp_path: Path) -> None:
    file = tmp_path / "checkout.shop.yaml"
    file.write_text(
        "apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n"
        "metadata: {name: checkout-by-hand, namespace: shop}\n"
        "spec:\n  workload: {name: checkout, kind: Deployment}\n"
        "  targets:\n  - kubernetes: {name: payments.billing}\n"
    )

    await DirectorySink(tmp_path).apply(client=CHECKOUT, target=service("cart"), note=note("a-1"))

    document = read(file)
    assert document["metadata"]["name"] == "checkout-by-hand"
    assert document["spec"]["targets"] == [
        {"kubernetes": {"name": "payments.billing"}}, {"service": {"name": "cart"}}]


async def test_concurrent_applies_on_the_same_workload_keep_every_target(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path)
    names = [f"svc-{number}" for number in range(8)]

    await asyncio.gather(*(
        sink.apply(client=CHECKOUT, target=service(name), note=note(name)) for name in names
    ))

    document = read(tmp_path / "checkout.shop.yaml")
    written = [entry["service"]["name"] for entry in document["spec"]["targets"]]
    assert sorted(written) == names


async def test_a_broken_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    file = tmp_path / "checkout.shop.yaml"
    file.write_text("spec: [unclosed\n")

    with pytest.raises(TemporaryError, match=r"checkout\.shop\.yaml is not valid YAML"):
        await DirectorySink(tmp_path).apply(client=CHECKOUT, target=service("cart"),
                                            note=note("a-1"))

    assert file.read_text() == "spec: [unclosed\n"
