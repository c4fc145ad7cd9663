"""Every Slack Web API call the service makes, counted on the one path all of them take.

slack_sdk hands each HTTP answer (and each attempt that got none) to the client's retry
handlers before it returns. Bolt copies those handlers into the client it gives each
listener, and Socket Mode opens its connection through the app's client, so a handler that
counts and never asks for a retry sees the outbox, the war-room desk, channel and user-group
lookups, history reads and the listeners' ephemerals alike: a call added tomorrow is counted
without anyone remembering to.
"""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

OnCall = Callable[[str, str], None]
"""``(method, outcome)``: ``chat.postMessage``, and ``ok``, the HTTP status of a refusal
(``429``, ``503``, ``200`` for ``ok: false``) or ``unreachable``."""


class CallCounter(AsyncRetryHandler):
    def __init__(self, on_call: OnCall) -> None:
        super().__init__(max_retry_count=0)
        self._on_call = on_call

    async def can_retry_async(self, *, state: RetryState, request: HttpRequest,
                              response: HttpResponse | None = None,
                              error: Exception | None = None) -> bool:
        self._on_call(method_of(request.url), outcome_of(response))
        return False


def outcome_of(response: HttpResponse | None) -> str:
    if response is None:
        return "unreachable"
    if response.status_code == 200 and (response.body or {}).get("ok") is True:
        return "ok"
    return str(response.status_code)


def method_of(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
