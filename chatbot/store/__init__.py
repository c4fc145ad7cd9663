"""Persistence: SQLAlchemy 2 async models, sessions and the queries the pipeline needs.

The database is the source of truth; Redis, when configured, is only a fast path.
Repository functions take a session and never commit: the caller owns the transaction.
"""
