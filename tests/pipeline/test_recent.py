"""The window of recent event ids: a repeat within one block of offsets is always caught,
one two blocks or more away never is, and the verdict depends on offsets alone — so a new
owner that replays from ``replay_from`` reaches the same verdicts as the old one did."""

from __future__ import annotations

import random

import pytest

from chatbot.pipeline.recent import RecentIds


@pytest.mark.parametrize("distance", [1, 5, 10, 11, 15, 19])
def test_a_repeat_within_one_block_is_caught_wherever_it_falls(distance: int) -> None:
    """Up to one block away always; up to two blocks away when the two fall in neighbouring
    blocks."""
    for start in range(25):
        recent = RecentIds(block=10)
        assert not recent.repeated("e", start)
        neighbours = (start + distance) // 10 - start // 10 <= 1
        assert recent.repeated("e", start + distance) == (distance <= 10 or neighbours)


def test_a_repeat_two_blocks_or_more_away_is_a_new_sighting() -> None:
    recent = RecentIds(block=10)
    assert not recent.repeated("e", 9)
    assert not recent.repeated("e", 29)


def test_every_sighting_renews_the_window() -> None:
    recent = RecentIds(block=10)
    assert [recent.repeated("e", offset) for offset in (0, 9, 18, 27)] == [False, True, True,
                                                                           True]


def test_a_replay_from_the_window_start_reaches_the_same_verdicts() -> None:
    dice = random.Random(3)
    log = [f"e{dice.randrange(40)}" for _ in range(500)]
    whole = RecentIds(block=16)
    verdicts = [whole.repeated(event_id, offset) for offset, event_id in enumerate(log)]
    for resume in (0, 15, 16, 17, 100, 333, 499):
        again = RecentIds(block=16)
        start = again.replay_from(resume)
        replayed = [again.repeated(log[offset], offset) for offset in range(start, len(log))]
        assert replayed[resume - start:] == verdicts[resume:], resume
