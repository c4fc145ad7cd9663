"""A background task that dies stops the service instead of leaving it idling."""

from __future__ import annotations

import asyncio

import pytest

from chatbot.supervisor import Supervisor, TaskDied


async def until(stop: asyncio.Event) -> None:
    await stop.wait()


async def test_a_task_that_raises_stops_everything_and_is_reported() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop)

    async def consumer() -> None:
        raise ConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")

    supervisor.start("outbox", until(stop))
    supervisor.start("consumer", consumer())
    await asyncio.wait_for(stop.wait(), 5)
    assert not supervisor.alive
    with pytest.raises(TaskDied, match="consumer task ended unexpectedly: ConnectionError"):
        await supervisor.join()


async def test_a_task_that_returns_early_counts_as_dead() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop)

    async def quitter() -> None:
        return None

    supervisor.start("applier", quitter())
    await asyncio.wait_for(stop.wait(), 5)
    with pytest.raises(TaskDied, match="returned before the service was stopped"):
        await supervisor.join()


async def test_a_normal_stop_is_not_a_failure() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop)
    supervisor.start("outbox", until(stop))
    supervisor.start("applier", until(stop))
    stop.set()
    await supervisor.join()
    assert supervisor.alive
