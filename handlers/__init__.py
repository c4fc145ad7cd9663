"""Everything that arrives from chat: button actions, the justification modal's submission,
"Approve all" on grouped cards, snoozes, the ``/flows`` command, the App Home tab, and the
one error handler that answers the person when handling failed.
:func:`register` puts them all on a bolt app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from chatbot.bulk import BulkDecider
from chatbot.decisions import Decider
from chatbot.queue import PendingQueue
from chatbot.slack.home import HomeTab
from chatbot.snooze import Snoozer
from handlers import actions, commands, errors, groups, home, justification, snooze


def register(app: AsyncApp, *, decider: Decider, queue: PendingQueue | None = None,
             snoozer: Snoozer | None = None, home_tab: HomeTab | None = None,
             bulk: BulkDecider | None = None) -> None:
    actions.register(app, decider=decider)
    justification.register(app, decider=decider)
    if bulk is not None:
        groups.register(app, bulk=bulk)
    if queue is not None:
        commands.register(app, queue=queue)
    if snoozer is not None:
        snooze.register(app, snoozer=snoozer)
    if home_tab is not None:
        home.register(app, home=home_tab)
    errors.register(app)
