"""Prometheus metrics, one :class:`Metrics` object per process built by the composition root.

Each instance owns its ``CollectorRegistry`` (no global registry), so tests can build as
many as they like. To add a metric, add an attribute in ``__init__`` with
``registry=self.registry``; ``/metrics`` serves :meth:`render`.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry

        # Consume and store (chatbot/pipeline).
        self.events_consumed = Counter(
            "events_consumed_total", "Valid flow-anomaly events read and stored.",
            registry=registry)
        self.bad_events = Counter(
            "bad_events_total", "Records sent to the dead-letter sink, by reason category.",
            ["reason"], registry=registry)
        self.anomalies_detected = Counter(
            "anomalies_detected_total", "New anomalies (first sighting of a flow fingerprint).",
            registry=registry)
        self.events_redelivered = Counter(
            "events_redelivered_total", "Events whose event_id was already stored (no-ops).",
            registry=registry)
        self.batch_seconds = Histogram(
            "batch_seconds", "Time to store, dead-letter and commit one consumed batch.",
            buckets=BATCH_BUCKETS, registry=registry)
        self.kafka_commits = Counter(
            "kafka_commit_total", "Offset commits after a stored batch, by result.",
            ["result"], registry=registry)
        self.store_failures = Counter(
            "store_failures_total", "Batches that failed to store and will be retried.",
            registry=registry)

        # Hubble flows (chatbot/sensors).
        self.hubble_flows_skipped = Counter(
            "hubble_flows_skipped_total", "Valid Hubble records that make no event, by reason "
            "(replies, repeated sightings, endpoints without a workload identity...).",
            ["reason"], registry=registry)
        self.flows_covered = Counter(
            "flows_covered_total", "Hubble flows an approved ClientIntents already allows: "
            "counted, no card.", registry=registry)

        # Chat and cluster (chatbot/slack, chatbot/applier).
        self.slack_calls = Counter(
            "slack_calls_total", "Slack Web API calls by method and outcome (ok or HTTP status).",
            ["method", "outcome"], registry=registry)
        self.apply_seconds = Histogram(
            "apply_seconds", "Time to write one approval into the intents sink.",
            buckets=BATCH_BUCKETS, registry=registry)
        self.anomalies = Gauge(
            "anomalies", "Stored anomalies by lifecycle state.", ["state"], registry=registry)

    def render(self) -> bytes:
        """The text exposition format for ``/metrics`` (with :attr:`content_type`)."""
        return generate_latest(self.registry)
