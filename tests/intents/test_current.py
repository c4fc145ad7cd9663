"""The client's intents as the card shows them: one line per target, read through the sink,
kept briefly, forgotten after a write, and never in the way when the read fails."""

from __future__ import annotations

from chatbot.events.model import Workload
from chatbot.intents.current import CurrentIntents, describe_targets
from chatbot.intents.document import Document

WEB = Workload(name="web", namespace="rps", kind="Deployment")


def test_each_target_is_one_line_that_says_how_wide_it_is() -> None:
    document: Document = {"spec": {"targets": [
        {"service": {"name": "game-api", "http": [{"path": "/a", "methods": ["GET", "POST"]},
                                                  {"path": "/b"}]}},
        {"kubernetes": {"name": "stats-postgres", "kind": "StatefulSet"}},
        {"kafka": {"name": "kafka.kafka", "topics": [{"name": "orders"}]}},
        {"internet": {"domains": ["api.segment.io"], "ips": ["203.0.113.7"], "ports": [443]}},
        {"internet": {"ips": ["198.51.100.1"]}},
        "garbage",
    ]}}
    assert describe_targets(document) == (
        "service game-api: GET POST /a; any method /b",
        "kubernetes stats-postgres (StatefulSet): every call",
        "kafka kafka.kafka: orders (all)",
        "internet api.segment.io, 203.0.113.7 on port 443",
        "internet 198.51.100.1 on every port",
    )
    assert describe_targets(None) == ()


async def test_reads_are_kept_briefly_forgotten_after_a_write_and_failures_are_quiet() -> None:
    now = [0.0]
    reads: list[Workload] = []
    document: Document = {"spec": {"targets": [{"service": {"name": "game-api"}}]}}

    async def read(client: Workload) -> Document | None:
        reads.append(client)
        if len(reads) == 3:
            raise OSError("apiserver away")
        return document

    current = CurrentIntents(read=read, ttl=10.0, monotonic=lambda: now[0])
    assert await current.targets(WEB) == ("service game-api: every call",)
    assert await current.targets(WEB) == ("service game-api: every call",)
    assert len(reads) == 1
    current.forget(WEB)
    await current.targets(WEB)
    now[0] = 11.0
    assert await current.targets(WEB) is None  # unknown: the card leaves the section out
    assert len(reads) == 3
