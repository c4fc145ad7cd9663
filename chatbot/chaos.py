"""Fault injection for the crash tests: named points where the process may die on purpose.

A ``crash_point("after_store")`` call sits at each place where a crash is most likely to
lose or double something (a batch stored but its offsets not committed, a Slack post made
but not recorded, a decision committed but not written to the cluster, a write made but not
recorded). It does nothing unless ``CHATBOT_CHAOS_CRASH_AT`` names the point:

    CHATBOT_CHAOS_CRASH_AT=after_store:0.05,after_post:0.1   # probability per pass
    CHATBOT_CHAOS_CRASH_AT=before_apply#3                    # on the 3rd pass, for sure
    CHATBOT_CHAOS_SEED=42                                    # makes the dice repeatable

When the point fires the process leaves with ``os._exit(137)`` — no ``finally`` blocks, no
flushing, no goodbye to Kafka — exactly like ``kill -9``. The environment is read once, at
import; unset, a call is one dictionary lookup on an empty dict.

``CHATBOT_CHAOS_RAISE_AT`` (same syntax) raises :class:`ChaosFault` at the point instead:
an error nobody expected, as a bug would raise, for the story that a task dying of one stops
the process non-zero rather than leaving it up with the task gone.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

CRASH_AT_ENV = "CHATBOT_CHAOS_CRASH_AT"
RAISE_AT_ENV = "CHATBOT_CHAOS_RAISE_AT"
SEED_ENV = "CHATBOT_CHAOS_SEED"
CRASH_EXIT_CODE = 137  # what a shell reports for SIGKILL, so logs read the same
CRASH_MARKER = "chaos: crashing at "

# after_push: the bot branch is pushed, its pull request not yet opened (git sink);
# before_settle: a merge or close was seen on the forge, not yet recorded.
POINTS = frozenset({"after_store", "after_post", "before_apply", "after_apply", "after_push",
                    "before_settle"})


@dataclass(frozen=True, slots=True)
class Trigger:
    probability: float = 0.0  # chance per pass
    on_pass: int = 0  # or: the n-th pass (1-based) fires for sure


class ChaosFault(RuntimeError):
    """Raised at a chaos point named in ``CHATBOT_CHAOS_RAISE_AT``."""


def parse_plan(spec: str, *, env: str = CRASH_AT_ENV) -> dict[str, Trigger]:
    """``name:p`` (probability) or ``name#n`` (n-th pass) items, comma-separated."""
    plan: dict[str, Trigger] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        if "#" in item:
            name, _, nth = item.partition("#")
            trigger = Trigger(on_pass=int(nth))
        else:
            name, _, chance = item.partition(":")
            trigger = Trigger(probability=float(chance or "1"))
        if name not in POINTS:
            raise ValueError(f"{env}: unknown crash point {name!r} "
                             f"(known: {', '.join(sorted(POINTS))})")
        plan[name] = trigger
    return plan


_PLAN = parse_plan(os.environ.get(CRASH_AT_ENV, ""))
_RAISE = parse_plan(os.environ.get(RAISE_AT_ENV, ""), env=RAISE_AT_ENV)
_DICE = random.Random(os.environ.get(SEED_ENV) or None)
_PASSES: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here, now, if the chaos plan says so (never when no plan is set)."""
    if not _PLAN and not _RAISE:
        return
    passes = _PASSES[name] = _PASSES.get(name, 0) + 1
    trigger = _PLAN.get(name)
    if trigger is not None and _fires(trigger, passes):
        # Unbuffered, so the line survives the exit: the crash loop reads it from the log.
        os.write(2, f"{CRASH_MARKER}{name} (pass {passes})\n".encode())
        os._exit(CRASH_EXIT_CODE)
    fault = _RAISE.get(name)
    if fault is not None and _fires(fault, passes):
        raise ChaosFault(f"chaos: raising at {name} (pass {passes})")


def _fires(trigger: Trigger, passes: int) -> bool:
    return passes == trigger.on_pass or _DICE.random() < trigger.probability
