"""HTTP surface: the Slack endpoint, health and readiness probes, Prometheus metrics."""
