"""Everything that arrives from chat: button actions, the justification modal's submission,
the ``/flows`` command, and the one error handler that answers the person when handling
failed. :func:`register` puts them all on a bolt app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from chatbot.decisions import Decider
from chatbot.queue import PendingQueue
from handlers import actions, commands, errors, justification


def register(app: AsyncApp, *, decider: Decider, queue: PendingQueue | None = None) -> None:
    actions.register(app, decider=decider)
    justification.register(app, decider=decider)
    if queue is not None:
        commands.register(app, queue=queue)
    errors.register(app)
