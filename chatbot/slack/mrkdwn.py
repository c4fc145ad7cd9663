"""Making untrusted event text safe for Slack: escaping and size limits.

Slack reads ``<!channel>``, ``<@U123>`` and ``<http://…|…>`` as controls; escaping ``&``,
``<`` and ``>`` turns them back into plain characters, so nothing an event says can
mention anyone. Truncation happens on the escaped text and never splits an entity.
"""

from __future__ import annotations

ELLIPSIS = "…"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Inline code; a backtick in the value would end the span, so it is swapped out."""
    return f"`{escape(text).replace('`', 'ˋ')}`"


def fit(text: str, limit: int) -> str:
    """Cut already-escaped text to ``limit`` characters without breaking ``&lt;`` etc."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def plain(text: str, limit: int) -> str:
    """For ``plain_text`` objects: Slack does not parse them, only the length matters."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
