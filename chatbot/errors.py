"""The service's error hierarchy, split by what the caller should do about it.

Permanent errors are never retried (bad input goes to the dead-letter topic, a refused
decision is explained to the person); temporary errors are retried after ``delay`` seconds.
"""

from __future__ import annotations


class ChatbotError(Exception):
    """Base of every error this service raises on purpose."""


class PermanentError(ChatbotError):
    """Retrying cannot help: the input or the request itself is wrong."""


class TemporaryError(ChatbotError):
    """A dependency is unavailable or refused for now; retry after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class BadEvent(PermanentError):
    """A Kafka record that is not a valid schema-v1 flow anomaly; ``reason`` is for humans,
    ``category`` a short fixed code for metrics (see chatbot/events/problem.py)."""

    def __init__(self, reason: str, *, category: str = "invalid_value") -> None:
        super().__init__(reason)
        self.reason = reason
        self.category = category


class NoEvent(ChatbotError):
    """A valid record that makes no event: a skipped or covered Hubble flow, counted by its
    reader; never dead-lettered."""


class ConfigError(PermanentError):
    """The configuration is invalid; the message names the offending key."""


class ConfigProblems(ConfigError):
    """Every problem found in the settings and the rules file at once, each naming its key,
    so one run tells the whole story instead of one missing setting per run."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class Unreachable(TemporaryError):
    """A dependency did not answer: the message names where it is (never a password) and
    what happened, in one line a person can act on."""
