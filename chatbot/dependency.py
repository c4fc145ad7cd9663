"""A dependency the service waits for — the database, Kafka, the Slack token: whether it is
up and, when it is not, why (what ``/readyz`` shows), and the loop that tries it again with a
capped exponential backoff, one log line per retry, until it answers or the service stops.

``serve`` never dies of, and never idles on, a dependency that is late: it keeps trying and
says so. An error the ``describe`` function does not recognise as "not reachable" is not
retried — it propagates, the supervised task dies, and the process exits non-zero.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from chatbot.waiting import nap

T = TypeVar("T")


class NotReady(Exception):
    """Raised by a readiness probe; the message is the reason ``/readyz`` shows."""


@dataclass(frozen=True)
class Backoff:
    first: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds before retry number ``failures`` (1-based): doubling, never over the cap."""
        return min(self.cap, self.first * 2.0 ** max(failures - 1, 0))


START_BACKOFF = Backoff()


class Dependency:
    def __init__(self, name: str, *, waiting: str) -> None:
        self.name = name
        self.waiting = waiting
        self.problem: str | None = waiting
        self.retries = 0

    @property
    def up(self) -> bool:
        return self.problem is None

    def mark_up(self) -> None:
        self.problem = None

    def mark_down(self, problem: str) -> None:
        self.problem = problem

    async def probe(self) -> bool:
        """For ``/readyz``: True, or :class:`NotReady` with the reason."""
        if self.problem is not None:
            raise NotReady(self.problem)
        return True


async def until_up(
    dependency: Dependency,
    attempt: Callable[[], Awaitable[T]],
    *,
    stop: asyncio.Event,
    describe: Callable[[BaseException], str | None],
    log: logging.Logger,
    backoff: Backoff = START_BACKOFF,
    last_step: bool = True,
) -> T | None:
    """``attempt()`` until it succeeds (its result) or ``stop`` is set (None). Each failure
    that ``describe`` explains marks the dependency down with that reason and is logged with
    the retry number and the delay; any other error propagates. Success marks it up — or,
    when more steps follow (``last_step=False``), back to its waiting reason."""
    failures = 0
    while not stop.is_set():
        try:
            result = await attempt()
        except Exception as error:
            problem = describe(error)
            if problem is None:
                raise
            failures += 1
            dependency.retries = failures
            delay = backoff.delay(failures)
            dependency.mark_down(f"{problem} (retry {failures} in {delay:g}s)")
            log.warning("%s; retry %d in %gs", problem, failures, delay,
                        extra={"dependency": dependency.name, "retry": failures,
                               "delay": delay})
            await nap(stop, seconds=delay)
            continue
        if last_step:
            dependency.mark_up()
        else:
            dependency.mark_down(dependency.waiting)
        if failures:
            log.info("%s is up after %d retries", dependency.name, failures,
                     extra={"dependency": dependency.name})
        return result
    return None
