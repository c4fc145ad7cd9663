"""Synthetic flow anomalies for the benchmark: ``flows`` distinct flows from ``workloads``
client workloads (``WORKLOADS`` unless asked) spread over ``NAMESPACES`` namespaces (routed
to ``CHANNELS`` Slack channels), repeated round-robin into as many schema-v1 events as
asked. Each flow has a severity drawn from the bundled samples' mix
(chatbot/samples/flows.jsonl: about 40 % low, 36 % medium, 21 % high, 4 % critical), or
one severity for all when asked. Pure: no I/O, deterministic for a given run id."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

NAMESPACES = 20
CLIENTS = 10
WORKLOADS = NAMESPACES * CLIENTS
# Two namespaces share a channel. The outbox holds up to two pooled database connections per
# busy channel lane (see bench/README.md), so 20 channels exhaust the default pool of 15.
CHANNELS = 10
APPROVER = "U0BENCH"
# Cumulative percentages of the samples' severities, by event: low 152, medium 116,
# high 92, critical 15 of 375.
SAMPLES_MIX = ((40, "low"), (76, "medium"), (96, "high"), (100, "critical"))


def namespace(index: int) -> str:
    return f"team-{index:02d}"


def channel(index: int, channels: int = CHANNELS) -> str:
    """The channel of namespace number ``index``."""
    return f"flows-{index % channels:02d}"


def workload(flow: int, workloads: int = WORKLOADS) -> tuple[str, str]:
    """``(namespace, client name)`` of flow number ``flow``: workload ``flow % workloads``,
    the workloads dealt over the namespaces in turn."""
    index = flow % workloads
    return namespace(index % NAMESPACES), f"svc-{index // NAMESPACES}"


def flow_document(flow: int, workloads: int = WORKLOADS) -> dict[str, object]:
    """The identity part of flow number ``flow``: client, target, cluster."""
    ns, client = workload(flow, workloads)
    slot = flow // workloads  # 0.. ; distinct targets per client
    kind = slot % 5
    target: dict[str, object]
    if kind == 3:
        target = {"type": "kafka", "name": "kafka", "namespace": "kafka-system",
                  "topic": f"orders-{slot}", "operation": "produce"}
    elif kind == 4:
        target = {"type": "internet", "domain": f"api{slot}.example.com", "port": 443,
                  "protocol": "TCP"}
    else:
        target = {"type": "kubernetes", "name": f"api-{slot}", "namespace": ns,
                  "kind": "Deployment", "port": 8080 + slot, "protocol": "TCP"}
        if kind == 0:
            target["http"] = {"path": f"/v1/items/{slot}", "method": "GET"}
    return {"cluster": "bench",
            "client": {"name": client, "namespace": ns, "kind": "Deployment",
                       "labels": {"app": client, "team": ns}},
            "target": target}


def severity(flow: int) -> str:
    """Flow number ``flow``'s severity, spread over the samples' mix (a multiplicative hash,
    so neighbouring flows differ)."""
    share = flow * 2654435761 % 2**32 * 100 // 2**32
    return next(name for bound, name in SAMPLES_MIX if share < bound)


def events(total: int, flows: int, *, run: str, start: int = 0,
           one_severity: str | None = None, workloads: int = WORKLOADS) -> Iterator[bytes]:
    """``total`` events, event ``k`` on flow ``k % flows``; ids unique per ``run``. Severities
    follow the samples' mix unless ``one_severity`` names one for every event."""
    documents = [{**flow_document(flow, workloads), "severity": one_severity or severity(flow)}
                 for flow in range(flows)]
    for k in range(start, start + total):
        second, milli = divmod(k, 1000)
        minute, second = divmod(second, 60)
        hour, minute = divmod(minute, 60)
        yield orjson.dumps({
            "schema_version": 1, "event_id": f"{run}-{k}",
            "observed_at": f"2026-11-23T{hour % 24:02d}:{minute:02d}:{second:02d}.{milli:03d}Z",
            **documents[k % flows], "reason": "no-intent", "count": 1,
        })


def rules_yaml(channels: int = CHANNELS) -> str:
    """Routes: namespace ``team-NN`` to channel ``flows-(NN mod channels)``; everyone may be
    approved by the benchmark's user."""
    routes = "\n".join(
        f'  - {{namespaces: ["{namespace(i)}"], channel: {channel(i, channels)}}}'
        for i in range(NAMESPACES))
    return (f"channels: {{default: flow-alerts, war_room: war-room}}\nroutes:\n{routes}\n"
            f'approvers:\n  - {{namespaces: ["*"], users: [{APPROVER}]}}\n')
