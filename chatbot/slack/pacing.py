"""Per-channel pacing for Slack posts: about one message per second per channel.

Pacing ahead of time keeps 429s rare; when one comes anyway, ``hold`` parks only that
channel for the Retry-After the server asked for, never the others or the ack path.
"""

from __future__ import annotations

import asyncio
import time


class ChannelPacer:
    def __init__(self, *, interval_seconds: float = 1.1) -> None:
        self._interval = interval_seconds
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def turn(self, channel: str) -> None:
        """Wait until this channel may receive the next write, and reserve it."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            delay = self._next.get(channel, 0.0) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next[channel] = time.monotonic() + self._interval

    def hold(self, channel: str, seconds: float) -> None:
        self._next[channel] = max(self._next.get(channel, 0.0), time.monotonic() + seconds)

    def held_for(self, channel: str) -> float:
        return max(0.0, self._next.get(channel, 0.0) - time.monotonic())
