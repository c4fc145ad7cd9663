"""``open_sensing``: the flows reader judges flows against the very index its keeper fills —
also when that index is still empty as the service is built, which it always is."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from chatbot.config.settings import settings_from_env
from chatbot.errors import NoEvent
from chatbot.metrics import Metrics
from chatbot.sensors.wiring import open_sensing
from testbench.hubble_flows import hubble_line

APPROVED = """\
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: {name: cart, namespace: shop}
spec:
  workload: {name: cart, kind: Deployment}
  targets: [{kubernetes: {name: ledger, kind: StatefulSet}}]
"""
FLOW = {"src": {"ns": "shop", "pod": "cart-5d8f7c9b6-x2x7k",
                "workload": {"name": "cart", "kind": "Deployment"}},
        "dst": {"ns": "shop", "pod": "ledger-0", "remote": False,
                "workload": {"name": "ledger", "kind": "StatefulSet"}},
        "dport": 9090}


async def test_a_flow_the_intents_directory_approves_is_covered(
        tmp_path: Path, hubble_generator: Path) -> None:
    settings = settings_from_env({"CHATBOT_INTENTS_SINK": f"directory:{tmp_path}",
                                  "CHATBOT_KAFKA_FLOWS_TOPIC": "flows"})
    metrics = Metrics()
    line = hubble_line(FLOW, binary=hubble_generator)
    async with AsyncExitStack() as stack:
        sensing = await open_sensing(settings, metrics=metrics, stack=stack,
                                     on_change=lambda: None)
        assert sensing.flows is not None and sensing.follow is not None
        (tmp_path / "cart.shop.yaml").write_text(APPROVED)  # approved after the build
        follow = asyncio.ensure_future(sensing.follow())
        try:
            decode = await sensing.flows.prepare([line])
            with pytest.raises(NoEvent):  # covered: no event for the store
                decode(line)
            sensing.flows.settle(stored=True)
        finally:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
    assert metrics.registry.get_sample_value("flows_covered_total") == 1
