"""The anomaly state machine (shared/DESIGN.md, "Anomaly lifecycle").

Pure: given the stored state and a person's action, say what the new state is or why the
action does not apply. The store turns the answer into a compare-and-set on the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    ESCALATED = "escalated"
    APPROVED = "approved"
    APPLIED = "applied"
    APPLY_FAILED = "apply_failed"
    BLOCKED = "blocked"
    REVOKING = "revoking"
    """A person revoked the applied access; the bot is removing exactly what it added."""
    REVOKED = "revoked"
    """The access is gone again; the same flow seen later asks for a new decision."""
    PROPOSED = "proposed"
    """Git sink: a pull request carries the approval; ``applied`` once it is merged."""
    COVERED = "covered"
    """A ClientIntents written elsewhere (a GitOps change merged by hand, say) now allows the
    flow: resolved by the system, nobody decided, nothing for the bot to write."""


class Action(StrEnum):
    APPROVE = "approve"
    BLOCK = "block"
    ESCALATE = "escalate"
    REVOKE = "revoke"


OPEN_STATES = frozenset({State.PENDING, State.ESCALATED})

_TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.PENDING, Action.APPROVE): State.APPROVED,
    (State.PENDING, Action.BLOCK): State.BLOCKED,
    (State.PENDING, Action.ESCALATE): State.ESCALATED,
    (State.ESCALATED, Action.APPROVE): State.APPROVED,
    (State.ESCALATED, Action.BLOCK): State.BLOCKED,
    (State.APPLIED, Action.REVOKE): State.REVOKING,
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


# What an intent written elsewhere may resolve: only a flow nobody has decided yet. A decision
# (approved, blocked, revoked, …) stands; the audit trail keeps who made it.
COVERABLE_STATES = frozenset({State.PENDING, State.ESCALATED})

# The service itself may also re-open a blocked flow that was retried after the block.
SYSTEM_ESCALATABLE = frozenset({State.PENDING, State.BLOCKED})


# What the git sink's proposal tracker may do on its own (no person's action): open the pull
# request, see it merged, or see it closed unmerged, which puts the flow back to a decision.
PROPOSAL_STEPS: dict[str, tuple[frozenset[State], State]] = {
    "proposed": (frozenset({State.APPROVED, State.APPLY_FAILED}), State.PROPOSED),
    "merged": (frozenset({State.PROPOSED}), State.APPLIED),
    "closed": (frozenset({State.PROPOSED}), State.PENDING),
}


def proposal_step(state: State, outcome: str) -> State | None:
    """The state a pull request's ``outcome`` moves an anomaly in ``state`` to, or None when
    it does not apply (already moved on, e.g. a webhook and a poll reporting the same merge)."""
    before, after = PROPOSAL_STEPS[outcome]
    return after if state in before else None


def allowed_actions(state: State) -> list[Action]:
    """What a person may still do, in button order (Approve, Block, Escalate; Revoke once
    applied)."""
    return [action for action in Action if (state, action) in _TRANSITIONS]


@dataclass(frozen=True, slots=True)
class Ballot:
    """An Approve counted against the quorum (the two-person rule)."""

    votes: tuple[str, ...]
    needed: int
    duplicate: bool = False
    """The person had already approved: nothing changes, the vote is not counted twice."""

    @property
    def complete(self) -> bool:
        """Enough distinct approvers: the Approve becomes the decision."""
        return not self.duplicate and len(self.votes) >= self.needed

    @property
    def missing(self) -> int:
        return max(0, self.needed - len(self.votes))


def cast_vote(votes: Sequence[str], user_id: str, *, needed: int) -> Ballot:
    """Add ``user_id``'s approval to ``votes``; one person counts once, however often they
    click, and ``needed`` distinct approvers decide."""
    if user_id in votes:
        return Ballot(tuple(votes), needed, duplicate=True)
    return Ballot((*votes, user_id), needed)
