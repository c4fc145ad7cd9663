"""Persistence: SQLAlchemy 2 async models, sessions and the queries the pipeline needs.

The database is the source of truth, dedup included; Redis (when configured) holds only the
escalation-timer lease, never anomaly state.
Repository functions take a session and never commit: the caller owns the transaction.
"""
