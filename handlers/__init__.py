"""Slack action and command handlers; each module has a ``register(app, ...)`` function."""
