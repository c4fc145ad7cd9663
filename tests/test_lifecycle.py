"""The state machine and the two-person rule, as pure functions."""

from __future__ import annotations

import pytest

from chatbot.lifecycle import Action, NotAllowed, State, allowed_actions, cast_vote, transition


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
    for decided in (State.APPROVED, State.APPLIED, State.APPLY_FAILED, State.BLOCKED):
        assert allowed_actions(decided) == []
        with pytest.raises(NotAllowed, match="cannot approve"):
            transition(decided, Action.APPROVE)
