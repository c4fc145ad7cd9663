"""The connection dedup's memory, driven with connection keys directly: it remembers a
connection for two windows of flow time (one to match in, one for partitions that lag), not
longer, also after a batch was rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatbot.events.hubble_dedup import ConnectionDedup, ConnectionKey
from chatbot.events.model import Reason

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def key(number: int) -> ConnectionKey:
    return ("default", "TCP", "10.244.0.2", 32768 + number, "10.244.1.7", 8080, "", "")


def see(dedup: ConnectionDedup, number: int, second: float) -> bool:
    return dedup.first_sighting(key(number), START + timedelta(seconds=second),
                                Reason.NO_INTENT)


def test_a_steady_stream_is_remembered_for_two_windows_only() -> None:
    dedup = ConnectionDedup(window_seconds=120.0, capacity=10_000)
    for number in range(1_000):  # one new connection a second
        assert see(dedup, number, number)
    assert len(dedup) == 241  # the last 240 seconds, both ends included
    assert see(dedup, 0, 1_000)  # long forgotten: a new connection on a reused port
    assert not see(dedup, 999, 1_000)


def test_a_partition_that_lags_still_finds_its_pair() -> None:
    """The other node's sighting of a connection may sit in a partition read 100 s behind the
    one that brought the newest flows."""
    dedup = ConnectionDedup(window_seconds=120.0, capacity=10_000)
    assert see(dedup, 1, 900)
    for number in range(2, 200):  # the partition ahead runs on to t=1100
        see(dedup, number, 900 + number)
    assert not see(dedup, 1, 900.2)


def test_what_a_rolled_back_batch_forgot_comes_back_and_is_forgotten_again() -> None:
    dedup = ConnectionDedup(window_seconds=10.0, capacity=10_000)
    for number in range(5):
        see(dedup, number, number)
    dedup.commit()
    assert see(dedup, 100, 60)  # moves the window past every stored sighting
    assert see(dedup, 101, 61)
    assert len(dedup) == 2
    dedup.rollback()  # the batch was not stored: as if it never came
    assert len(dedup) == 5
    assert not see(dedup, 4, 4.5)
    for number in range(200, 260):  # the stream goes on, one a second from t=5
        see(dedup, number, number - 195)
    assert len(dedup) == 21
