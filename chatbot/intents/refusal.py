"""Turns apiserver failures into the service's errors, with the apiserver's own reason in a
sentence a person can read in chat. Only kubernetes.py calls :func:`refusal`; the NetworkPolicy
sink words its own refusals with :func:`api_reason` and :func:`retry_after`."""

from __future__ import annotations

import json

from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.errors import ChatbotError, PermanentError, TemporaryError

FORBIDDEN_DELAY = 10.0  # an RBAC fix is picked up this soon; repeats back off
UNAVAILABLE_DELAY = 5.0
NOT_FOUND_DELAY = 60.0
MAX_REASON_CHARS = 600


def refusal(exc: ApiException) -> ChatbotError:
    status = exc.status or 0
    reason = api_reason(exc)
    if status in (401, 403):
        # An operator can fix credentials or RBAC without a redeploy, so keep retrying.
        return TemporaryError(f"the cluster refused the write: {reason}", delay=FORBIDDEN_DELAY)
    if status == 404:
        return TemporaryError(
            f"the cluster has nowhere to write the ClientIntents: {reason} "
            "(is the ClientIntents CRD installed and the namespace there?)",
            delay=NOT_FOUND_DELAY,
        )
    if status == 422:
        return PermanentError(f"the cluster rejected the ClientIntents object: {reason}")
    if status in (0, 408, 429) or status >= 500:
        return TemporaryError(
            f"the cluster could not take the write now ({status or 'no status'}): {reason}",
            delay=retry_after(exc) or UNAVAILABLE_DELAY,
        )
    return PermanentError(f"the cluster refused the write ({status}): {reason}")


def unreachable(exc: BaseException) -> TemporaryError:
    detail = str(exc) or type(exc).__name__
    return TemporaryError(f"the cluster could not be reached: {detail}", delay=UNAVAILABLE_DELAY)


def api_reason(exc: ApiException) -> str:
    """The Status message from the response body, else the HTTP reason phrase."""
    body = exc.body
    message = None
    try:
        status = json.loads(body) if body else None
    except (ValueError, TypeError):
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        message = status["message"]
    text = message or str(exc.reason or "no reason given")
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def retry_after(exc: ApiException) -> float | None:
    headers = exc.headers
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
