"""What the stand-in was asked: every Web API call with its decoded arguments and the answer
it got, faults and refusals included, in arrival order."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from testbench.slack.workspace import JSONObject


@dataclass(frozen=True)
class RecordedCall:
    method: str
    params: JSONObject
    """Arguments from query, form or JSON body, with ``blocks``/``metadata`` decoded and the
    token left out."""
    status: int
    response: JSONObject
    at: float
    """Wall-clock time of arrival (``time.time()``), comparable with message ``ts``."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None

    def to_json(self) -> JSONObject:
        return {"method": self.method, "params": self.params, "status": self.status,
                "response": self.response, "at": self.at}


class CallLog:
    def __init__(self) -> None:
        self._calls: list[RecordedCall] = []

    def record(self, method: str, params: JSONObject, status: int,
               response: JSONObject) -> RecordedCall:
        call = RecordedCall(method, params, status, response, time.time())
        self._calls.append(call)
        return call

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        self._calls.clear()

    async def wait_for(self, method: str | None, count: int = 1, *,
                       within: float = 10.0) -> list[RecordedCall]:
        """Wait until at least ``count`` calls of ``method`` have arrived (the bot posts from
        background tasks, so a test cannot know when)."""
        deadline = time.monotonic() + within
        while len(found := self.calls(method)) < count:
            if time.monotonic() > deadline:
                seen = [c.method for c in self._calls]
                raise TimeoutError(f"Slack stand-in: expected {count} {method or 'any'} "
                                   f"call(s) within {within}s, got {len(found)}; "
                                   f"all calls so far: {seen}")
            await asyncio.sleep(0.01)
        return found
