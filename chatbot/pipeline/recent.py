"""Producer-side duplicates: the event ids recently seen in one partition, so an event a
sensor sent twice (a retry after a lost acknowledgement) is counted once.

Redelivery by Kafka needs none of this — stored offsets skip it (chatbot/store/offsets.py).
This catches the same event id at two offsets. The window is defined by offsets alone —
an id repeats "recently" when its previous offset is in the same block of ``block`` offsets
or the block before — so the verdict on a record is a function of the log, the same in every
life of every member: a new owner rebuilds it by reading from the start of the block before
its stored offset (:meth:`RecentIds.replay_from`). So a repeat within ``block`` offsets is
always dropped, one ``2 * block`` or more offsets away never is.
"""

from __future__ import annotations

BLOCK = 25_000  # offsets; memory is at most two blocks of ids per partition


class RecentIds:
    def __init__(self, *, block: int = BLOCK) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self._block = block
        self._number = -1  # the block `current` belongs to
        self._current: set[str] = set()
        self._previous: set[str] = set()

    def replay_from(self, next_offset: int) -> int:
        """Where to start reading so the window is whole again at ``next_offset``."""
        return max(0, (next_offset // self._block - 1) * self._block)

    def repeated(self, event_id: str, offset: int) -> bool:
        """True if ``event_id`` was seen recently before ``offset``; remembers it either way.
        Offsets must not decrease (a rewind starts a new window)."""
        number = offset // self._block
        if number != self._number:
            if number == self._number + 1:
                self._previous = self._current
            else:
                self._previous = set()
            self._current = set()
            self._number = number
        seen = event_id in self._current or event_id in self._previous
        self._current.add(event_id)  # this sighting is the one the next repeat is measured to
        return seen
