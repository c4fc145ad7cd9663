"""One connection, one event: Hubble reports a connection once per node and observation point
(egress at the client's node, ingress at the server's, trace and policy-verdict events, TCP
flag changes). All of them share the connection's 5-tuple, which no other connection has
while this one lives, so the 5-tuple (with the cluster and, for L7, the request's method and
path) is the key; nodes, directions and observation points are deliberately not in it.

A later sighting passes only when it says more than the ones before (a policy drop at the
server's node after a forward at the client's): the denial must never hide behind the pass.

Bounded in time (``window``, by the flows' own timestamps) and in size (``capacity``,
oldest out first), so memory stays flat however long the stream runs. Pure: no I/O.

What a batch taught it is provisional until :meth:`ConnectionDedup.commit`: a batch that
fails to store is read again, and :meth:`ConnectionDedup.rollback` makes sure its sightings
are first sightings again (else the retry would drop them all as duplicates).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from chatbot.events.hubble_outcome import reason_rank
from chatbot.events.model import Reason

ConnectionKey = tuple[str, str, str, int, str, int, str, str]
"""(cluster, protocol, source IP, source port, destination IP, destination port, HTTP method,
HTTP path)."""

WINDOW_SECONDS = 120.0
"""Longer than the sightings of one connection are apart (milliseconds, or the seconds a
shipper buffers), shorter than an ephemeral port takes to be reused."""
CAPACITY = 200_000


class ConnectionDedup:
    def __init__(self, *, window_seconds: float = WINDOW_SECONDS,
                 capacity: int = CAPACITY) -> None:
        self._window = window_seconds
        self._capacity = capacity
        # By the key's hash, not the key: a tuple of eight costs more than the rest of an entry,
        # and two live connections sharing a 64-bit hash is a one-in-10^9 event at capacity.
        self._seen: OrderedDict[int, tuple[float, int]] = OrderedDict()
        self._latest = float("-inf")
        self._next_due = float("-inf")
        """The time of the oldest sighting when the last pass stopped: nothing is due to be
        forgotten before the cutoff passes it (checked per sighting, so kept cheap)."""
        # What each key held before the uncommitted sightings (None: absent), and the latest.
        self._undo: dict[int, tuple[float, int] | None] = {}
        self._undo_latest = self._latest

    def __len__(self) -> int:
        return len(self._seen)

    def first_sighting(self, key: ConnectionKey, observed_at: datetime, reason: Reason) -> bool:
        """True if this sighting should become an event; remembers it either way."""
        entry = hash(key)
        at = observed_at.timestamp()
        rank = reason_rank(reason)
        self._latest = max(self._latest, at)
        # Forgotten a window later than it could match: ``latest`` comes from the partition
        # furthest ahead, and a lagging partition's sighting must still find its pair.
        self._forget_before(self._latest - 2 * self._window)
        known = self._seen.get(entry)
        self._keep(entry, known)
        if known is not None and abs(at - known[0]) <= self._window:
            # Still the same connection: keep it alive, and let through only news.
            self._seen[entry] = (max(at, known[0]), max(rank, known[1]))
            self._seen.move_to_end(entry)
            return rank > known[1]
        self._seen[entry] = (at, rank)
        if known is not None:  # a key new to the dict is last already
            self._seen.move_to_end(entry)
        while len(self._seen) > self._capacity:
            oldest, value = self._seen.popitem(last=False)
            self._keep(oldest, value)
        return True

    def commit(self) -> None:
        """The sightings so far are stored: keep them."""
        self._undo.clear()
        self._undo_latest = self._latest

    def rollback(self) -> None:
        """Forget the sightings since the last commit, as if they were never seen."""
        for key, value in self._undo.items():
            if value is None:
                self._seen.pop(key, None)
            else:
                self._seen[key] = value
        self._undo.clear()
        self._latest = self._undo_latest
        self._next_due = float("-inf")  # restored sightings may be older than the mark

    def _keep(self, key: int, value: tuple[float, int] | None) -> None:
        """Note what ``key`` held before this batch first touched it."""
        self._undo.setdefault(key, value)

    def _forget_before(self, cutoff: float) -> None:
        # Insertion order is nearly time order; a straggler is only forgotten a bit late.
        if cutoff < self._next_due:
            return
        while self._seen:
            key, value = next(iter(self._seen.items()))
            if value[0] >= cutoff:
                self._next_due = value[0]
                return
            self._keep(key, value)
            del self._seen[key]
        self._next_due = float("-inf")
