"""Cyclic-GC settings around the consume loop.

A batch is thousands of fresh container objects (aiokafka's records, our events) that all
survive the batch, so the default thresholds (a young-generation pass every 700
allocations) scan each batch several times over and promote it into older generations to
be scanned again: measured in bench/README.md, it more than doubled aiokafka's own cost per
record at 5,000 records a batch. The loop's objects hold no cycles, so passes are made rare
and what was alive at start-up is frozen out of them. Reference counting still frees
everything at once; only cyclic garbage waits longer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

HOT_LOOP_THRESHOLDS = (100_000, 50, 100)


@contextmanager
def collector_tuned(thresholds: tuple[int, int, int] = HOT_LOOP_THRESHOLDS) -> Iterator[None]:
    """Applies to the whole process for the duration (the collector has no other scope);
    the previous thresholds come back on exit."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
