"""Apiserver failures while reading selectors or writing NetworkPolicies, as the service's
errors: a sentence for chat naming what the bot tried to do and the apiserver's own reason.

RBAC refusals are temporary (an operator can grant the role without a redeploy), as for
ClientIntents; an object the apiserver rejects is permanent.
"""

from __future__ import annotations

from kubernetes_asyncio.client.exceptions import ApiException

from chatbot.errors import ChatbotError, PermanentError, TemporaryError
from chatbot.intents.refusal import (
    FORBIDDEN_DELAY,
    NOT_FOUND_DELAY,
    UNAVAILABLE_DELAY,
    api_reason,
    retry_after,
)

RBAC_HINT = ("the chart grants it with intents.format=networkpolicy (networkpolicies, and get on "
             "the workload kinds and services)")


def refused(exc: ApiException, *, doing: str) -> ChatbotError:
    """`doing` completes "the cluster refused to let the bot …", e.g. "write NetworkPolicy
    shop/checkout-deployment-egress"."""
    status = exc.status or 0
    reason = api_reason(exc)
    if status in (401, 403):
        return TemporaryError(f"the cluster refused to let the bot {doing}: {reason} "
                              f"({RBAC_HINT})", delay=FORBIDDEN_DELAY)
    if status == 404:
        return TemporaryError(f"the cluster has nowhere to {doing}: {reason} "
                              "(is the namespace there?)", delay=NOT_FOUND_DELAY)
    if status == 422:
        return PermanentError(f"the cluster rejected the NetworkPolicy: {reason}")
    if status in (0, 408, 429) or status >= 500:
        return TemporaryError(f"the cluster could not {doing} now ({status or 'no status'}): "
                              f"{reason}", delay=retry_after(exc) or UNAVAILABLE_DELAY)
    return PermanentError(f"the cluster refused to let the bot {doing} ({status}): {reason}")
