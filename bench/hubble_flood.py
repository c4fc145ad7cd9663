"""The Hubble flood for the benchmark: ``distinct`` flows (client workload → target), each seen
as many connections, written as the Hubble exporter writes them, plus the ClientIntents that
already cover 90 % of those flows.

What a connection looks like here: a pod of the client (one of ``REPLICAS``) opens it from an
ephemeral port of its own, and Hubble reports it twice at the client's node — for TCP a
``policy-verdict`` event and the ``trace`` event at ``TO_OVERLAY``, for HTTP through the proxy
the L7 request and the L7 response (a reply). So every connection is one first sighting (an
event, covered or not) and one record the service skips (``duplicate`` or ``reply``). Both are
at the client's node, where Hubble names the client's workload, so no owner lookup through the
apiserver is needed and the order of the two across partitions does not matter. Connections
start ``CONNECTION_STEP_US`` apart by the flows' own clock (1,000 new connections a second),
so the connection dedup's 120 s window holds at most 120,000 connections.

Cost: the generator (Cilium's types, ``testbench/hubble``) encodes about 10,000 records a
second here, so a million would take minutes. It encodes each flow's two sightings per
replica once, with sentinel values in the fields a connection changes (source port, time,
uuid); the flood is those lines with the sentinels replaced, byte for byte — what the
generator writes for the same spec with the real values (tests/bench/test_hubble_bench.py
checks that on a sample), at about 10 µs a record against the generator's 65 µs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbench.hubble_flows import Format, hubble_lines

REPLICAS = 3
SIGHTINGS = 2
CONNECTION_STEP_US = 1_000
SECOND_SIGHTING_US = 250
FIRST_EPHEMERAL_PORT = 32768
EPHEMERAL_PORTS = 28232  # Linux's default ip_local_port_range: 32768-60999
KINDS = ("service", "service", "http", "pod", "world")
BASE = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
# Sentinels the generator writes verbatim; each occurs in a template only where a connection's
# own value goes (ports in "source_port"/"destination_port", the time twice, the uuid once).
_PORT = 54321
_TIME = "2001-02-03T04:05:06Z"
_UUID = "00000000-0000-4000-8000-00000000beef"
_PORT_TOKEN = b'_port":%d' % _PORT
_TIME_TOKEN = _TIME.encode()
_UUID_TOKEN = _UUID.encode()
_TOKENS = (_PORT_TOKEN, _TIME_TOKEN, _UUID_TOKEN)
Spec = dict[str, Any]


def covered(flow: int) -> bool:
    """Nine flows in ten are covered: flow ``i`` is not when its last two digits match, which
    spreads the uncovered tenth evenly over the kinds (0, 11, 22, … 99, 100, 111, …)."""
    return flow % 10 != flow // 10 % 10


@dataclass(frozen=True)
class FlowShape:
    """Flow number ``index``: who calls what."""

    index: int

    @property
    def kind(self) -> str:
        return KINDS[self.index % len(KINDS)]

    @property
    def client(self) -> int:
        return self.index // len(KINDS) % 200

    @property
    def namespace(self) -> str:
        return f"team-{self.client % 20:02d}"

    @property
    def workload(self) -> str:
        return f"svc-{self.client // 20}"

    @property
    def variant(self) -> int:
        """Beyond 1,000 flows the same clients call further targets."""
        return self.index // (len(KINDS) * 200)

    @property
    def slot(self) -> int:
        return self.index % len(KINDS) + len(KINDS) * self.variant

    def node(self, replica: int) -> str:
        return f"worker-{(self.client + replica) % 8}"

    def client_endpoint(self, replica: int) -> Spec:
        suffix = ("x2x7k", "q8m4n", "z5p9w")[replica % 3] + ("" if replica < 3 else str(replica))
        # Pod addresses are unique in a cluster; the generator's default (a hash of the
        # name) is not, and two pods sharing one would make their connections one 5-tuple.
        ip = f"10.244.{replica * 4 + self.client // 250}.{self.client % 250 + 2}"
        return {"ns": self.namespace, "pod": f"{self.workload}-6c9f8d7b5-{suffix}", "ip": ip,
                "labels": {"app": self.workload, "team": self.namespace},
                "workload": {"name": self.workload, "kind": "Deployment"}}

    def sightings(self, replica: int) -> list[Spec]:
        """The connection's two records, with the sentinels standing in for its own values."""
        common: Spec = {"node": self.node(replica), "time": _TIME, "uuid": _UUID,
                        "src": self.client_endpoint(replica)}
        ns = self.namespace
        if self.kind == "service":
            name = f"api-{self.slot}"
            request = {**common, "dst": {"ns": ns, "pod": f"{name}-0", "labels": {"app": name}},
                       "dst_service": {"name": name, "namespace": ns},
                       "sport": _PORT, "dport": 8080 + self.slot}
            return [{**request, "event": "policy-verdict"}, request]
        if self.kind == "http":
            name = f"web-{self.variant}"
            server = {"ns": ns, "pod": f"{name}-0", "labels": {"app": name}}
            url = f"http://{name}.{ns}:8080/v1/{self.workload}/items?page=2"
            request = {**common, "dst": server, "dst_service": {"name": name, "namespace": ns},
                       "sport": _PORT, "dport": 8080, "http": {"method": "GET", "url": url}}
            # The proxy logs the response from the server's side: endpoints and ports swapped.
            response = {**common, "src": {**server, "remote": True},
                        "dst": {**common["src"], "remote": False}, "reply": True,
                        "src_service": {"name": name, "namespace": ns}, "sport": 8080,
                        "dport": _PORT, "http": {"method": "GET", "url": url, "code": 200}}
            return [request, response]
        if self.kind == "pod":  # on the client's node: Hubble names both workloads
            name = f"db-{self.variant}"
            request = {**common, "dst": {"ns": ns, "pod": f"{name}-0", "labels": {"app": name},
                                         "workload": {"name": name, "kind": "StatefulSet"},
                                         "remote": False},
                       "sport": _PORT, "dport": 5432}
            return [{**request, "event": "policy-verdict"}, request]
        request = {**common, "dst": {"reserved": "world"},
                   "dst_names": [f"api-{self.variant}.example.com"], "sport": _PORT,
                   "dport": 443}
        return [{**request, "event": "policy-verdict"}, request]

    def grant(self) -> dict[str, object]:
        """The ClientIntents target that allows this flow."""
        if self.kind == "service":
            # Both ways Otterize names a Service: a service target, a kubernetes one of kind
            # Service.
            name = f"api-{self.slot}"
            return ({"service": {"name": name}} if self.slot % 2 else
                    {"kubernetes": {"name": name, "kind": "Service"}})
        if self.kind == "http":
            return {"kubernetes": {"name": f"web-{self.variant}", "kind": "Service",
                                   "http": [{"path": f"/v1/{self.workload}/items",
                                             "methods": ["GET"]}]}}
        if self.kind == "pod":
            return {"kubernetes": {"name": f"db-{self.variant}", "kind": "StatefulSet"}}
        return {"internet": {"domains": [f"api-{self.variant}.example.com"], "ports": [443]}}


def intents(distinct: int) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """((namespace, name), ClientIntents document) per client with a covered flow: one per
    workload, as the operator allows, listing the targets of its covered flows."""
    targets: dict[tuple[str, str], list[dict[str, object]]] = {}
    for index in range(distinct):
        if covered(index):
            shape = FlowShape(index)
            targets.setdefault((shape.namespace, shape.workload), []).append(shape.grant())
    return [((ns, name), {"apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
                          "metadata": {"name": name, "namespace": ns},
                          "spec": {"workload": {"name": name, "kind": "Deployment"},
                                   "targets": grants}})
            for (ns, name), grants in sorted(targets.items())]


@dataclass(frozen=True)
class Expected:
    """What the service should make of the first ``records`` records of a flood."""

    records: int
    connections: int
    covered: int
    uncovered: int
    skipped: int
    cards: int


def expected(records: int, distinct: int) -> Expected:
    connections = -(-records // SIGHTINGS)
    first = [k % distinct for k in range(connections)]  # the flow of each connection
    covering = sum(covered(flow) for flow in first)
    cards = sum(1 for flow in range(min(distinct, connections)) if not covered(flow))
    return Expected(records=records, connections=connections, covered=covering,
                    uncovered=connections - covering, skipped=records - connections,
                    cards=cards)


class Flood:
    """The templates of ``distinct`` flows, encoded once by the generator."""

    def __init__(self, distinct: int, *, binary: Path | None = None) -> None:
        self.distinct = distinct
        specs = [spec for index in range(distinct) for replica in range(REPLICAS)
                 for spec in FlowShape(index).sightings(replica)]
        lines = hubble_lines(specs, format=Format.EXPORTER, binary=binary)
        self._templates = [_template(line) for line in lines]

    def records(self, total: int, *, run: int = 0) -> Iterator[bytes]:
        """The first ``total`` records: connection ``k`` is flow ``k % distinct`` from replica
        ``k // distinct % REPLICAS``; uuids unique per ``run`` (0..65535)."""
        prefix = f"{run & 0xFFFF:04x}"
        clock = _Clock()
        for k in range(-(-total // SIGHTINGS)):
            flow, rest = k % self.distinct, k // self.distinct
            replica, sequence = rest % REPLICAS, rest // REPLICAS
            port = b'_port":%d' % (FIRST_EPHEMERAL_PORT + sequence % EPHEMERAL_PORTS)
            base = (flow * REPLICAS + replica) * SIGHTINGS
            started = k * CONNECTION_STEP_US
            for sighting in range(SIGHTINGS):
                number = k * SIGHTINGS + sighting
                if number >= total:
                    return
                pieces, tokens = self._templates[base + sighting]
                values = {_PORT_TOKEN: port,
                          _TIME_TOKEN: clock(started + sighting * SECOND_SIGHTING_US),
                          _UUID_TOKEN: b"%08x-%s-4000-8000-%012x" % (number, prefix.encode(), k)}
                parts = [pieces[0]]
                for token, piece in zip(tokens, pieces[1:], strict=True):
                    parts += (values[token], piece)
                yield b"".join(parts)

    def spec(self, number: int, *, run: int = 0) -> Spec:
        """The generator's spec of record ``number``, with its own values in place of the
        sentinels: what the substitution in :meth:`records` must agree with."""
        k, sighting = divmod(number, SIGHTINGS)
        flow, rest = k % self.distinct, k // self.distinct
        replica, sequence = rest % REPLICAS, rest // REPLICAS
        spec = FlowShape(flow).sightings(replica)[sighting]
        port = FIRST_EPHEMERAL_PORT + sequence % EPHEMERAL_PORTS
        when = BASE + dt.timedelta(microseconds=k * CONNECTION_STEP_US
                                   + sighting * SECOND_SIGHTING_US)
        return {**spec, **{key: port for key in ("sport", "dport") if spec.get(key) == _PORT},
                "time": when.isoformat().replace("+00:00", "Z"),
                "uuid": f"{number:08x}-{run & 0xFFFF:04x}-4000-8000-{k:012x}"}


Template = tuple[tuple[bytes, ...], tuple[bytes, ...]]


def _template(line: bytes) -> Template:
    """The line cut at its sentinels: (the pieces, the sentinel between each two)."""
    pieces: list[bytes] = []
    tokens: list[bytes] = []
    rest = line
    while found := [(at, token) for token in _TOKENS if (at := rest.find(token)) >= 0]:
        at, token = min(found)
        pieces.append(rest[:at])
        tokens.append(token)
        rest = rest[at + len(token):]
    pieces.append(rest)
    if (tokens.count(_TIME_TOKEN), tokens.count(_UUID_TOKEN)) != (2, 1) or (
            _PORT_TOKEN not in tokens):
        raise ValueError(f"a generator line lacks a sentinel: {line[:200]!r}")
    return tuple(pieces), tuple(tokens)


class _Clock:
    """BASE + ``micros`` as protojson writes a Timestamp: RFC 3339 in UTC with 0, 3, 6 or 9
    fractional digits, the fewest that are exact. The date and time of day are formatted
    once per second (a flood has thousands of records a second)."""

    def __init__(self) -> None:
        self._second = -1
        self._text = b""

    def __call__(self, micros: int) -> bytes:
        seconds, fraction = divmod(micros, 1_000_000)
        if seconds != self._second:
            when = BASE + dt.timedelta(seconds=seconds)
            self._second, self._text = seconds, when.strftime("%Y-%m-%dT%H:%M:%S").encode()
        if not fraction:
            return self._text + b"Z"
        if fraction % 1000 == 0:
            return b"%s.%03dZ" % (self._text, fraction // 1000)
        return b"%s.%06dZ" % (self._text, fraction)
