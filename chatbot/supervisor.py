"""Supervision of the service's background tasks (consumer, outbox, applier, escalator).

Each loop is meant to run until the service is asked to stop and handles its own expected
failures. A task that ends any other way — an exception that escaped, or a return before
the stop — is a bug or an unrecoverable dependency: it is logged with its traceback, the
liveness probe turns false, and the whole service stops so the process exits non-zero and
its supervisor (Kubernetes) restarts it. Idling on with one part dead is the one outcome
this rules out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskDied(Exception):
    """A supervised task ended before the stop; the service stopped because of it."""

    def __init__(self, name: str, cause: str) -> None:
        super().__init__(f"the {name} task ended unexpectedly: {cause}")
        self.name = name
        self.cause = cause


class Supervisor:
    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._tasks: dict[asyncio.Task[None], str] = {}
        self.failure: TaskDied | None = None

    @property
    def alive(self) -> bool:
        """For the liveness probe: False once a task died."""
        return self.failure is None

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks[task] = name
        task.add_done_callback(self._ended)

    async def join(self) -> None:
        """Wait for every task to finish (after the stop was set); raise the first death."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.failure is not None:
            raise self.failure

    def _ended(self, task: asyncio.Task[None]) -> None:
        name = self._tasks[task]
        error = None if task.cancelled() else task.exception()
        if self._stop.is_set():  # on the way out: a failure now is worth a line, no more
            if error is not None:
                log.error("the %s task failed while stopping", name, exc_info=error)
            return
        if task.cancelled():
            cause = "cancelled"
            log.critical("the %s task was cancelled; stopping the service", name)
        elif error is not None:
            cause = f"{type(error).__name__}: {error}"
            log.critical("the %s task died; stopping the service", name, exc_info=error)
        else:
            cause = "returned before the service was stopped"
            log.critical("the %s task %s; stopping the service", name, cause)
        if self.failure is None:
            self.failure = TaskDied(name, cause)
        self._stop.set()


async def until_stopped(follow: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run a loop that knows no stop (it runs until cancelled) until the service stops."""
    task = asyncio.ensure_future(follow())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # what ended it, for the supervisor
            raise RuntimeError("the loop returned before the stop")
    finally:
        stopping.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
