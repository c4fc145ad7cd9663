"""The ingest pipeline: Kafka records (or bundled lines) → validated events → stored anomalies,
with bad records dead-lettered and offsets committed only after the batch is stored."""
