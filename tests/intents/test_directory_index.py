"""With the directory sink, the intents directory is the index: what the sink writes, what
people commit by hand (any shape, several documents per file), edits and deletions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chatbot.events.model import (
    FlowEvent,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Target,
    Workload,
)
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.directory import DirectorySink
from chatbot.intents.directory_index import DirectoryIndex
from chatbot.intents.document import ApprovalNote

CHECKOUT = Workload(name="checkout", namespace="shop", kind="Deployment")
LEDGER = KubernetesTarget(name="ledger", namespace="billing", kind="StatefulSet", port=9090,
                          protocol="TCP")
GITHUB = InternetTarget(domain="api.github.com", ip=None, port=443, protocol="TCP")
NOTE = ApprovalNote("a-1", "U024BE7LH", datetime(2026, 3, 1, tzinfo=UTC))
HAND_WRITTEN = """\
apiVersion: k8s.otterize.com/v1alpha3
kind: ClientIntents
metadata: {name: checkout-legacy, namespace: shop}
spec:
  service: {name: checkout}
  calls:
    - name: ledger.billing
---
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: {name: cart, namespace: shop}
spec:
  workload: {name: cart, kind: Deployment}
  targets:
    - internet: {domains: [api.github.com]}
"""


def flow(target: Target, client: Workload = CHECKOUT) -> FlowEvent:
    return FlowEvent(event_id="e-1", observed_at=datetime(2026, 3, 1, tzinfo=UTC),
                     cluster="default", client=client, target=target)


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[IntentRef, bool]] = []

    async def __call__(self, ref: IntentRef, document: dict[str, Any] | None) -> None:
        self.seen.append((ref, document is not None))


async def test_what_the_sink_writes_is_covered_after_a_refresh(tmp_path: Path) -> None:
    index, changes = CoverageIndex(), Changes()
    directory = DirectoryIndex(tmp_path, index=index, on_change=changes)
    assert await directory.refresh() == [] and directory.synced.is_set()

    await DirectorySink(tmp_path).apply(client=CHECKOUT, target=LEDGER, note=NOTE)
    assert await directory.refresh() == [IntentRef("shop", "checkout")]
    assert index.covering(flow(LEDGER)) == IntentRef("shop", "checkout")
    assert directory.file_of(IntentRef("shop", "checkout")) == tmp_path / "checkout.shop.yaml"

    assert await directory.refresh() == []  # nothing changed on disk
    await DirectorySink(tmp_path).apply(client=CHECKOUT, target=GITHUB, note=NOTE)
    assert await directory.refresh() == [IntentRef("shop", "checkout")]
    assert index.covers(flow(GITHUB)) and index.covers(flow(LEDGER))
    assert changes.seen == [(IntentRef("shop", "checkout"), True)] * 2


async def test_hand_written_files_in_any_shape_edits_and_deletions(tmp_path: Path) -> None:
    index, changes = CoverageIndex(), Changes()
    directory = DirectoryIndex(tmp_path, index=index, on_change=changes)
    file = tmp_path / "team-shop.yml"
    file.write_text(HAND_WRITTEN)
    (tmp_path / "README.md").write_text("not an intent")
    (tmp_path / ".checkout.shop.yaml.tmp").write_text("half: [written")

    assert await directory.refresh() == [IntentRef("shop", "cart"),
                                         IntentRef("shop", "checkout-legacy")]
    assert index.covering(flow(LEDGER)) == IntentRef("shop", "checkout-legacy")
    assert index.covers(flow(GITHUB, client=Workload("cart", "shop", "Deployment")))

    file.write_text(HAND_WRITTEN.replace("ledger.billing", "ledger.finance"))
    assert await directory.refresh() == [IntentRef("shop", "checkout-legacy")]
    assert not index.covers(flow(LEDGER))

    file.unlink()
    assert sorted(await directory.refresh()) == [IntentRef("shop", "cart"),
                                                 IntentRef("shop", "checkout-legacy")]
    assert len(index) == 0
    assert changes.seen[-2:] == [(IntentRef("shop", "cart"), False),
                                 (IntentRef("shop", "checkout-legacy"), False)]


async def test_a_broken_file_grants_nothing_until_it_is_fixed(tmp_path: Path) -> None:
    index = CoverageIndex()
    directory = DirectoryIndex(tmp_path, index=index)
    file = tmp_path / "checkout.shop.yaml"
    file.write_text(HAND_WRITTEN)
    await directory.refresh()
    assert index.covers(flow(LEDGER))

    file.write_text(HAND_WRITTEN + "  - name: [unclosed\n")
    await directory.refresh()
    assert not index.covers(flow(LEDGER))
    assert "cannot read it" in directory.problems[file]

    file.write_text(HAND_WRITTEN)
    await directory.refresh()
    assert index.covers(flow(LEDGER)) and directory.problems == {}


async def test_the_poll_loop_picks_up_a_file_dropped_in_later(tmp_path: Path) -> None:
    index, arrived = CoverageIndex(), asyncio.Event()

    async def on_change(ref: IntentRef, document: dict[str, Any] | None) -> None:
        arrived.set()

    directory = DirectoryIndex(tmp_path / "not-yet", index=index, on_change=on_change,
                               poll_seconds=0.05)
    task = asyncio.create_task(directory.run())
    try:
        await asyncio.wait_for(directory.synced.wait(), 5)
        (tmp_path / "not-yet").mkdir()
        (tmp_path / "not-yet" / "team.yaml").write_text(HAND_WRITTEN)
        await asyncio.wait_for(arrived.wait(), 5)
        assert index.covers(flow(LEDGER))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


WRONGLY_TYPED = """\
apiVersion: k8s.otterize.com/v1alpha3
kind: ClientIntents
metadata: {name: checkout-typo, namespace: shop}
spec:
  service: {name: checkout}
  calls:
    - {name: kafka.streaming, type: kafka, kafkaTopics: 5}
    - {name: cart, type: [http]}
"""


async def test_a_wrongly_typed_file_grants_nothing_and_the_good_one_still_covers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    index, changes = CoverageIndex(), Changes()
    directory = DirectoryIndex(tmp_path, index=index, on_change=changes)
    (tmp_path / "good.yaml").write_text(HAND_WRITTEN)
    (tmp_path / "typo.yaml").write_text(WRONGLY_TYPED)

    assert IntentRef("shop", "checkout-typo") in await directory.refresh()
    assert index.covering(flow(LEDGER)) == IntentRef("shop", "checkout-legacy")
    assert not index.covers(flow(KafkaTarget("kafka", "streaming", "orders", "produce")))
    assert IntentRef("shop", "checkout-typo") not in index.refs()
    warnings = [record.getMessage() for record in caplog.records
                if record.levelno == logging.WARNING]
    assert warnings == ["ClientIntents shop/checkout-typo grants nothing: "
                        "spec.calls[0].kafkaTopics is not a list of mappings"]
