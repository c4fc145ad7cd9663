"""Flow-approval ChatOps bot: Kafka flow anomalies -> Slack decisions -> Otterize ClientIntents."""

__version__ = "0.1.0"
