"""The performance benchmark: drives the real service against the test bench (Kafka,
PostgreSQL, kube-apiserver, the Slack stand-in) and prints one table of figures measured side
by side in the same run. Entry point: ``python -m bench.run``; see bench/README.md."""
