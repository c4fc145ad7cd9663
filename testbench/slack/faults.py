"""Answers the stand-in gives instead of doing the work: injected faults (the next n calls,
of one method or to one channel if asked, get a 429 with ``Retry-After`` or a 5xx) and an
optional per-channel posting rate limit like Slack's "about one message per second per
channel, short bursts allowed"."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from testbench.slack.workspace import JSONObject

RATE_LIMITED_METHODS = frozenset({"chat.postMessage"})


@dataclass(frozen=True)
class Answer:
    """An HTTP answer from the Web API endpoint."""

    status: int
    body: JSONObject
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after: int) -> Answer:
    return Answer(429, {"ok": False, "error": "ratelimited"},
                  {"Retry-After": str(retry_after)})


def default_error(status: int) -> str:
    if status == 429:
        return "ratelimited"
    return "internal_error" if status >= 500 else "fatal_error"


@dataclass
class Fault:
    remaining: int
    status: int
    retry_after: int | None
    method: str | None
    error: str
    channel: str | None = None
    """Only calls aimed at this channel ID (None: any call)."""

    def answer(self) -> Answer:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return Answer(self.status, {"ok": False, "error": self.error}, headers)


class Faults:
    """Queued faults, consumed in the order they were added by the calls they match."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def add(self, count: int, *, status: int, retry_after: int | None, method: str | None,
            error: str | None, channel: str | None = None) -> None:
        if count > 0:
            self._pending.append(Fault(count, status, retry_after, method,
                                       error or default_error(status), channel))

    def take(self, method: str, channel_id: str | None = None) -> Answer | None:
        for fault in self._pending:
            if fault.method in (None, method) and fault.channel in (None, channel_id):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._pending.remove(fault)
                return fault.answer()
        return None

    def clear(self) -> None:
        self._pending.clear()


class ChannelRateLimit:
    """A token bucket per channel; a refused call does not spend a token."""

    def __init__(self, per_second: float, *, burst: int = 1,
                 methods: frozenset[str] = RATE_LIMITED_METHODS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("rate limit needs per_second > 0 and burst >= 1")
        self.per_second = per_second
        self.burst = burst
        self.methods = methods
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def admit(self, method: str, channel_id: str) -> Answer | None:
        if method not in self.methods:
            return None
        now = self._clock()
        level, since = self._buckets.get(channel_id, (float(self.burst), now))
        level = min(float(self.burst), level + (now - since) * self.per_second)
        if level >= 1.0:
            self._buckets[channel_id] = (level - 1.0, now)
            return None
        self._buckets[channel_id] = (level, now)
        # Retry-After is whole seconds (RFC 9110), so round the wait up.
        return rate_limited(max(1, math.ceil((1.0 - level) / self.per_second)))
