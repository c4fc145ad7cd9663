"""The floods of the grouping stage (bench/grouping.py): the records to send to Kafka, and
what a correct service must make of them — which records are dead letters, the distinct
flows and each flow's client workload (the grouping key). Pure: no I/O, deterministic.

- ``hostile``: the shape of tests/faults/corpus.py. The corpus's hostile records (every one
  invalid by construction: all dead-lettered, none posted) shuffled into valid events of the
  corpus's own base — clients ``web-0`` … ``web-49`` calling ``api:8080`` — whose HTTP paths
  carry chat mention markup, drawn from a few per workload so events repeat flows (about a
  third of 2,000 valid events are new flows).
- ``rollout``: ``flows`` distinct flows from ``workloads`` client workloads
  (:mod:`bench.flows`), each flow repeated round-robin.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

import orjson

from bench import flows
from chatbot.card_group import MAX_ROWS
from chatbot.events.fingerprint import fingerprint
from chatbot.events.parse import parse_event
from tests.faults.corpus import MENTIONS, corpus, valid

WorkloadKey = tuple[str, str, str]  # cluster, namespace, client name: what a group shares


@dataclass(frozen=True)
class Shape:
    name: str
    records: list[bytes]
    """In the order they are sent."""
    hostile: int
    """How many of ``records`` are invalid: each must land on the dead-letter topic."""
    flows: dict[str, WorkloadKey]
    """Each distinct flow's anomaly id and its client workload."""
    events: int
    """Valid events among ``records`` (each with a count of 1)."""
    routes: tuple[tuple[str, str], ...]
    """(namespace, channel) for every namespace the flows come from."""

    @property
    def per_workload(self) -> Counter[WorkloadKey]:
        """Distinct flows of each client workload."""
        return Counter(self.flows.values())

    def most_messages(self) -> int:
        """With grouping on, the most messages a correct service posts when every flow
        arrives inside one window: one per workload, or more for a workload with more new
        flows than one card holds (``MAX_ROWS``)."""
        return sum(math.ceil(count / MAX_ROWS) for count in self.per_workload.values())

    def rules_yaml(self, *, window: str | None) -> str:
        """Each namespace to its channel, the bench's user approves everything; grouped
        cards within ``window`` (``2m``) or none. No war room: every post counted is a card."""
        routes = "".join(f'  - {{namespaces: ["{namespace}"], channel: {channel}}}\n'
                         for namespace, channel in self.routes)
        return ("channels: {default: flow-alerts}\n"
                f"routes:\n{routes}"
                f'approvers:\n  - {{namespaces: ["*"], users: [{flows.APPROVER}]}}\n'
                + (f"grouping: {{window: {window}}}\n" if window else ""))


def hostile(*, events: int = 2_000, bad: int = 2_000, workloads: int = 50, paths: int = 14,
            channels: int = flows.CHANNELS, seed: int = 11) -> Shape:
    """``bad`` corpus records shuffled into ``events`` valid ones from ``workloads`` clients
    (``web-N``, as the corpus names them), each event one of ``paths`` markup-laden HTTP paths
    of its client. The corpus puts every client in ``shop``; here ``web-N`` lives in
    ``shop-(N mod channels)``, one channel each, so the one-card-per-flow run takes a minute
    at Slack's pace rather than ten — the grouping key is the workload, so the counts stay."""
    dice = random.Random(seed)
    documents = []
    for index in range(events):
        document = valid(dice, index)
        client = int(document["client"]["name"].removeprefix("web-")) % workloads
        namespace = _shop(client % channels)
        path = dice.randrange(paths)
        document["event_id"] = f"hostile-{seed}-{index}"
        document["client"] = {**document["client"], "name": f"web-{client}",
                              "namespace": namespace}
        document["target"] = {**document["target"], "namespace": namespace,
                              "http": {"path": f"/{MENTIONS[path % len(MENTIONS)]}/{path}",
                                       "method": "GET"}}
        documents.append(orjson.dumps(document))
    records = [*corpus(bad, seed=seed), *documents]
    dice.shuffle(records)
    routes = tuple((_shop(index), flows.channel(index, channels)) for index in range(channels))
    return _shape("hostile corpus", records, bad, documents, routes)


def rollout(*, flow_count: int = 1_000, workloads: int = 50, events: int = 10_000,
            channels: int = flows.CHANNELS, run: str = "rollout") -> Shape:
    """``events`` events over ``flow_count`` flows from ``workloads`` clients, the samples'
    severity mix (:func:`bench.flows.events`); namespaces routed as :func:`flows.rules_yaml`."""
    documents = list(flows.events(events, flow_count, run=run, workloads=workloads))
    used = sorted({flows.workload(flow, workloads)[0] for flow in range(flow_count)})
    routes = tuple((namespace, flows.channel(int(namespace.removeprefix("team-")), channels))
                   for namespace in used)
    return _shape(f"{flow_count:,} flows from {workloads} workloads", documents, 0, documents,
                  routes)


def _shape(name: str, records: list[bytes], hostile_count: int, documents: list[bytes],
           routes: tuple[tuple[str, str], ...]) -> Shape:
    found: dict[str, WorkloadKey] = {}
    for value in documents:
        event = parse_event(value)  # raises if a "valid" event is not: a bench bug
        found[fingerprint(event)] = (event.cluster, event.client.namespace, event.client.name)
    return Shape(name=name, records=records, hostile=hostile_count, flows=found,
                 events=len(documents), routes=routes)


def _shop(index: int) -> str:
    return f"shop-{index:02d}"
