"""Everything that arrives from chat: button actions, and the one error handler that answers
the person when handling failed. :func:`register` puts them all on a bolt app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from chatbot.decisions import Decider
from handlers import actions, errors


def register(app: AsyncApp, *, decider: Decider) -> None:
    actions.register(app, decider=decider)
    errors.register(app)
