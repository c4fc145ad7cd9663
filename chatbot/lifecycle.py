"""The anomaly state machine (shared/DESIGN.md, "Anomaly lifecycle").

Pure: given the stored state and a person's action, say what the new state is or why the
action does not apply. The store turns the answer into a compare-and-set on the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    ESCALATED = "escalated"
    APPROVED = "approved"
    APPLIED = "applied"
    APPLY_FAILED = "apply_failed"
    BLOCKED = "blocked"


class Action(StrEnum):
    APPROVE = "approve"
    BLOCK = "block"
    ESCALATE = "escalate"


OPEN_STATES = frozenset({State.PENDING, State.ESCALATED})
DECIDED_STATES = frozenset({State.APPROVED, State.APPLIED, State.APPLY_FAILED, State.BLOCKED})

_TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.PENDING, Action.APPROVE): State.APPROVED,
    (State.PENDING, Action.BLOCK): State.BLOCKED,
    (State.PENDING, Action.ESCALATE): State.ESCALATED,
    (State.ESCALATED, Action.APPROVE): State.APPROVED,
    (State.ESCALATED, Action.BLOCK): State.BLOCKED,
}


@dataclass(frozen=True, slots=True)
class Transition:
    before: State
    after: State


class NotAllowed(ValueError):
    """The action does not apply to the anomaly's current state (e.g. already decided)."""

    def __init__(self, state: State, action: Action) -> None:
        super().__init__(f"cannot {action} an anomaly that is {state.replace('_', ' ')}")
        self.state = state
        self.action = action


def transition(state: State, action: Action) -> Transition:
    after = _TRANSITIONS.get((state, action))
    if after is None:
        raise NotAllowed(state, action)
    return Transition(state, after)


# The service itself may also re-open a blocked flow that was retried after the block.
SYSTEM_ESCALATABLE = frozenset({State.PENDING, State.BLOCKED})


def allowed_actions(state: State) -> list[Action]:
    """What a person may still do, in button order (Approve, Block, Escalate)."""
    return [action for action in Action if (state, action) in _TRANSITIONS]
