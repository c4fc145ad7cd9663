"""Flow-anomaly events: the schema-v1 model, its validation and the flow fingerprint."""
