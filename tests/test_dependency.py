"""Waiting for a late dependency: retries with a doubling delay that stops at its cap, one
log line each, the reason kept for /readyz; an error nobody explained is not retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from chatbot.dependency import Backoff, Dependency, NotReady, until_up

FAST = Backoff(first=0.01, cap=0.04)


def failing(times: int, error: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise error
        return "up"

    return calls, attempt


async def test_retries_double_up_to_the_cap_and_the_reason_is_kept_until_it_works(
        caplog: pytest.LogCaptureFixture) -> None:
    database = Dependency("database", waiting="upgrading the schema")
    calls, attempt = failing(5, ConnectionRefusedError(111, "refused"))
    reasons: list[str] = []

    def describe(error: BaseException) -> str:
        reasons.append(database.problem or "")
        assert isinstance(error, OSError)
        return f"cannot reach the database: {error.strerror}"

    with caplog.at_level(logging.WARNING):
        result = await until_up(database, attempt, stop=asyncio.Event(), describe=describe,
                                log=logging.getLogger("test"), backoff=FAST)
    assert result == "up" and len(calls) == 6 and database.up and database.retries == 5
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot reach the database: refused; retry {n} in {delay:g}s"
        for n, delay in enumerate([0.01, 0.02, 0.04, 0.04, 0.04], start=1)]
    assert reasons[1] == "cannot reach the database: refused (retry 1 in 0.01s)"
    await database.probe()


async def test_a_probe_says_why_while_the_dependency_is_down() -> None:
    kafka = Dependency("kafka", waiting="connecting to Kafka")
    with pytest.raises(NotReady, match="connecting to Kafka"):
        await kafka.probe()


async def test_an_error_nobody_explained_is_not_retried() -> None:
    calls, attempt = failing(1, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        await until_up(Dependency("x", waiting="w"), attempt, stop=asyncio.Event(),
                       describe=lambda _error: None, log=logging.getLogger("test"),
                       backoff=FAST)
    assert len(calls) == 1


async def test_a_stop_while_waiting_ends_the_wait() -> None:
    stop = asyncio.Event()
    _, attempt = failing(1000, OSError("down"))
    waiting = asyncio.create_task(until_up(
        Dependency("x", waiting="w"), attempt, stop=stop,
        describe=str, log=logging.getLogger("test"), backoff=Backoff(first=5, cap=5)))
    await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(waiting, 1) is None


def test_the_start_backoff_doubles_from_half_a_second_to_thirty() -> None:
    assert [Backoff().delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
