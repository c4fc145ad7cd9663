"""chatbot.chaos: a crash point does nothing without a plan, and with one dies exactly like
``kill -9`` (exit 137, no cleanup) at the pass or with the odds the plan names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chatbot.chaos import CRASH_EXIT_CODE, Trigger, parse_plan

# Passes a point three times, then says so; a crash stops it before it can.
PASSES = ("from chatbot.chaos import crash_point\n"
          "for _ in range(3):\n    crash_point('after_post')\nprint('survived')")


def passes_with(plan: str | None, seed: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if plan is not None:
        env["CHATBOT_CHAOS_CRASH_AT"] = plan
    if seed is not None:
        env["CHATBOT_CHAOS_SEED"] = seed
    return subprocess.run([sys.executable, "-c", PASSES], env=env, capture_output=True,
                          text=True, timeout=30, check=False)


def test_a_plan_names_points_with_odds_or_a_pass() -> None:
    assert parse_plan("after_store:0.05, before_apply#3,after_post") == {
        "after_store": Trigger(probability=0.05), "before_apply": Trigger(on_pass=3),
        "after_post": Trigger(probability=1.0)}
    assert parse_plan("") == {}


def test_an_unknown_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown crash point 'after_lunch'"):
        parse_plan("after_lunch:1")


@pytest.mark.parametrize("plan", [None, "after_store:1", "after_post:0", "after_post#4"])
def test_without_a_plan_for_the_point_the_process_carries_on(plan: str | None) -> None:
    done = passes_with(plan)
    assert (done.returncode, done.stdout.strip()) == (0, "survived")


def test_on_the_named_pass_it_dies_like_kill_9_and_says_where() -> None:
    done = passes_with("after_post#2")
    assert done.returncode == CRASH_EXIT_CODE and "survived" not in done.stdout
    assert "chaos: crashing at after_post (pass 2)" in done.stderr


def test_odds_with_a_seed_die_on_the_same_pass_every_time() -> None:
    runs = [passes_with("after_post:0.5", seed="3") for _ in range(2)]
    assert runs[0].stderr == runs[1].stderr
    assert passes_with("after_post:1").returncode == CRASH_EXIT_CODE
