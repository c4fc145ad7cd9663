"""One JSON request to a forge's REST API, with the forge's answer sorted by what the caller
should do about it: retry later (``TemporaryError`` with the delay the forge asked for) or stop
(``PermanentError``). Shared by the Gitea and GitHub adapters.

The token travels only in the Authorization header; error messages carry the method, the
path and the forge's own message, never a header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from chatbot.errors import PermanentError, TemporaryError

# A forge that is down or overloaded is asked again after this long unless it says otherwise.
DEFAULT_RETRY_DELAY = 10.0
MAX_RETRY_DELAY = 900.0
_MESSAGE_CHARS = 300


class RequestRejected(PermanentError):
    """The forge refused the request as it stands (4xx); ``status`` says how."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    etag: str | None


class ForgeHttp:
    """A forge's REST API at ``base_url`` over a caller-owned aiohttp session."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        headers: Mapping[str, str],
        forge: str,
        timeout: float = 30.0,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._forge = forge
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:
        return f"ForgeHttp({self._forge} at {self._base_url})"

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object | None = None,
        etag: str | None = None,
        expect: Collection[int] = (200,),
    ) -> Answer:
        """Send one request; a status outside ``expect`` (and not 304) raises."""
        headers = dict(self._headers)
        if etag is not None:
            headers["If-None-Match"] = etag
        where = f"{self._forge} {method} {path}"
        try:
            async with self._session.request(
                method,
                f"{self._base_url}{path}",
                params=dict(query or {}),
                json=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                answer_headers = response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TemporaryError(f"{where}: {type(exc).__name__}: {exc}"[:_MESSAGE_CHARS],
                                 delay=DEFAULT_RETRY_DELAY) from exc
        if status in expect or status == 304:
            return Answer(status=status, body=_json(raw, where) if raw else None,
                          etag=answer_headers.get("ETag"))
        raise _refusal(where, status, raw, answer_headers)


def _json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PermanentError(f"{where}: the answer is not JSON") from exc


def _refusal(where: str, status: int, raw: bytes, headers: Mapping[str, str]) -> Exception:
    detail = _forge_message(raw)
    message = f"{where} answered {status}{': ' + detail if detail else ''}"
    delay = _retry_delay(status, headers)
    if delay is not None:
        return TemporaryError(message, delay=delay)
    if status == 401:
        return RequestRejected(f"{message} (the token is missing, expired or revoked)",
                               status=status)
    if status == 403:
        return RequestRejected(f"{message} (the token lacks a permission this needs)",
                               status=status)
    if 400 <= status < 500:
        return RequestRejected(message, status=status)
    return PermanentError(message)


def _retry_delay(status: int, headers: Mapping[str, str]) -> float | None:
    """Seconds to wait when the answer means "later", else None."""
    retry_after = headers.get("Retry-After")
    if retry_after is not None and status in (403, 429, 503):
        try:
            return _capped(float(retry_after))
        except ValueError:
            return DEFAULT_RETRY_DELAY
    # GitHub's primary rate limit: 403 or 429 with no requests left until the reset time.
    if status in (403, 429) and headers.get("X-RateLimit-Remaining") == "0":
        try:
            return _capped(float(headers.get("X-RateLimit-Reset", "0")) - time.time() + 1)
        except ValueError:
            return DEFAULT_RETRY_DELAY
    if status == 429 or status >= 500:
        return DEFAULT_RETRY_DELAY
    return None


def _capped(delay: float) -> float:
    return min(max(delay, 1.0), MAX_RETRY_DELAY)


def _forge_message(raw: bytes) -> str:
    # Both forges answer errors as {"message": ...}; anything else is shown as a short excerpt.
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw[:_MESSAGE_CHARS].decode(errors="replace").strip()
    if isinstance(parsed, dict):
        parts = [str(parsed.get("message", "")).strip()]
        errors = parsed.get("errors")
        if isinstance(errors, list):
            parts.extend(str(item.get("message", item)) if isinstance(item, dict) else str(item)
                         for item in errors[:3])
        return "; ".join(part for part in parts if part)[:_MESSAGE_CHARS]
    return str(parsed)[:_MESSAGE_CHARS]
