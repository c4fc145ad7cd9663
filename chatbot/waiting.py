"""Sleeping in a worker loop until there is work (a wake-up), shutdown, or a timeout."""

from __future__ import annotations

import asyncio


async def nap(*events: asyncio.Event, seconds: float) -> None:
    """Return when any event is set or ``seconds`` pass, whichever comes first."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
