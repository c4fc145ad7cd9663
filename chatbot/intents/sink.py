"""What the decision flow needs from an intents sink: apply one approved flow to the client
workload's ClientIntents, idempotently.

Errors follow chatbot.errors: TemporaryError (with a delay hint) when retrying may help —
including refusals an operator can fix, such as RBAC — and PermanentError when the object
itself is invalid. Messages are written to be shown in chat as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chatbot.events.model import Target, Workload
from chatbot.intents.document import ApprovalNote, Document


@dataclass(frozen=True, slots=True)
class Applied:
    object_ref: str
    """Where the object lives, for people: "ClientIntents shop/checkout" or a file path."""
    changed: bool
    """False when the object already allowed the flow and nothing was written."""
    document: Document
    """The object as it now stands."""


class IntentsSink(Protocol):
    async def apply(self, *, client: Workload, target: Target, note: ApprovalNote) -> Applied:
        ...

    async def close(self) -> None:
        ...
