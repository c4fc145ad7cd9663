"""What the decision flow needs from an intents sink: apply one approved flow to the client
workload's ClientIntents, idempotently, and revoke one again (remove exactly what that
approval added, keeping what other approvals in force still need).

Errors follow chatbot.errors: TemporaryError (with a delay hint) when retrying may help —
including refusals an operator can fix, such as RBAC — and PermanentError when the object
itself is invalid. Messages are written to be shown in chat as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from chatbot.events.model import Target, Workload
from chatbot.intents.document import ApprovalNote, Document, Entry
from chatbot.intents.removal import Keep


@dataclass(frozen=True, slots=True)
class Applied:
    object_ref: str
    """Where the object lives, for people: "ClientIntents shop/checkout" or a file path."""
    changed: bool
    """False when the object already allowed the flow and nothing was written."""
    document: Document
    """The object as it now stands."""


@dataclass(frozen=True, slots=True)
class Revoked:
    object_ref: str | None
    """Where the object lives; None when the workload has no object at all."""
    changed: bool
    """False when there was nothing of this approval's left to remove."""
    recorded: bool
    """The object recorded what this approval added (else nothing was removed)."""
    removed: tuple[Entry, ...] = ()
    kept_for: tuple[str, ...] = ()
    still_allowed: bool = False
    """The flow stays allowed by targets someone else wrote."""


class IntentsSink(Protocol):
    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        ...

    async def close(self) -> None:
        ...


@runtime_checkable
class RevokingSink(IntentsSink, Protocol):
    """A sink that can also take one approval's target out again (ClientIntents, in the
    cluster or a directory). The NetworkPolicy and git sinks cannot yet: a revoke there fails
    on the card with words saying so, and the rule is removed by hand."""

    async def revoke(self, *, client: Workload, target: Target, anomaly_id: str,
                     keep: Sequence[Keep]) -> Revoked:
        ...
