"""The state machine and the two-person rule, as pure functions."""

from __future__ import annotations

import pytest

from chatbot.lifecycle import (
    COVERABLE_STATES,
    OPEN_STATES,
    Action,
    NotAllowed,
    State,
    allowed_actions,
    cast_vote,
    transition,
)


def test_one_approval_decides_when_one_is_needed() -> None:
    ballot = cast_vote((), "U1", needed=1)
    assert ballot.complete and ballot.votes == ("U1",) and ballot.missing == 0


def test_a_quorum_of_two_needs_two_distinct_people() -> None:
    first = cast_vote((), "U1", needed=2)
    assert not first.complete and first.missing == 1
    again = cast_vote(first.votes, "U1", needed=2)
    assert again.duplicate and not again.complete and again.votes == ("U1",)
    second = cast_vote(first.votes, "U2", needed=2)
    assert second.complete and second.votes == ("U1", "U2")


def test_decided_flows_offer_nothing_and_refuse_a_second_decision() -> None:
    assert allowed_actions(State.PENDING) == [Action.APPROVE, Action.BLOCK, Action.ESCALATE]
    assert allowed_actions(State.ESCALATED) == [Action.APPROVE, Action.BLOCK]
    for decided in (State.APPROVED, State.APPLIED, State.APPLY_FAILED, State.BLOCKED,
                    State.REVOKING, State.REVOKED):
        assert allowed_actions(decided) == ([Action.REVOKE] if decided is State.APPLIED
                                            else [])
        with pytest.raises(NotAllowed, match="cannot approve"):
            transition(decided, Action.APPROVE)


def test_only_applied_access_can_be_revoked() -> None:
    assert transition(State.APPLIED, Action.REVOKE).after is State.REVOKING
    for state in (State.PENDING, State.APPROVED, State.APPLY_FAILED, State.REVOKING,
                  State.REVOKED, State.BLOCKED):
        with pytest.raises(NotAllowed, match="cannot revoke"):
            transition(state, Action.REVOKE)


def test_only_a_flow_nobody_decided_may_be_covered_and_a_covered_one_offers_nothing() -> None:
    assert frozenset({State.PENDING, State.ESCALATED}) == COVERABLE_STATES
    assert allowed_actions(State.COVERED) == []
    assert State.COVERED not in OPEN_STATES  # off the queues, like a decided flow
    for action in Action:
        with pytest.raises(NotAllowed):
            transition(State.COVERED, action)
