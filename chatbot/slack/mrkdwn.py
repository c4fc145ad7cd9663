"""Slack mrkdwn built from typed pieces, so escaping happens exactly once, at the edge.

Two kinds of text meet in a message. Event data (names, paths, error messages, reasons that
quote them) is untrusted: ``<!channel>``, ``<@U123>`` or ``<http://…|…>`` in it must stay
characters, and ``*bold*``, ``_it_``, ``~strike~`` or backticks must not restyle the card.
The service's own tokens — a date Slack renders in each reader's zone, a mention of the
approver who decided, a link to the original message — must reach Slack untouched.

:class:`Mrkdwn` marks text that is already markup. Every constructor here returns one, and
:func:`markup` fills a trusted template: a ``Mrkdwn`` value goes in as it is, a plain ``str``
is untrusted and is escaped and defused on the way in. Nothing is ever escaped twice, because
nothing turns a ``Mrkdwn`` back into a plain string to escape it again.
"""

from __future__ import annotations

import re
from datetime import datetime

ELLIPSIS = "…"
# Characters that start or end mrkdwn styling, swapped for look-alikes in running prose
# (inside a code span Slack does not style, so code keeps them — except the backtick,
# which would end the span).
_DEFUSE = str.maketrans({"*": "∗", "_": "ˍ", "~": "˜", "`": "ˋ"})
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


class Mrkdwn(str):
    """Text that is already Slack markup: escaped event text and the service's own tokens."""

    __slots__ = ()


def escape(text: str) -> Mrkdwn:
    """``&``, ``<`` and ``>`` as entities: Slack shows the characters and reads no control."""
    return Mrkdwn(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def prose(text: str) -> Mrkdwn:
    """Untrusted text in running prose: escaped, and styling characters defused."""
    return Mrkdwn(escape(text).translate(_DEFUSE))


def code(text: str) -> Mrkdwn:
    """Untrusted text shown exactly as it is, as inline code (Slack styles nothing inside)."""
    return Mrkdwn(f"`{escape(text).replace('`', 'ˋ')}`")


def code_block(text: str, limit: int = 3000) -> Mrkdwn:
    """Untrusted multi-line text as a preformatted block, ``limit`` characters in all."""
    inner = escape(text).replace("```", "ˋˋˋ")
    return Mrkdwn(f"```{_cut(inner, limit - 6, spans=False)}```")


def mention(user_id: str) -> Mrkdwn:
    """A live mention of a Slack user; anything not shaped like a user id is shown as text."""
    return Mrkdwn(f"<@{user_id}>") if _USER_ID.fullmatch(user_id) else prose(user_id)


def channel(channel_id: str) -> Mrkdwn:
    return Mrkdwn(f"<#{channel_id}>") if _CHANNEL_ID.fullmatch(channel_id) else code(channel_id)


def date(moment: datetime) -> Mrkdwn:
    """Slack renders this in each reader's time zone; the fallback is UTC ISO."""
    epoch = int(moment.timestamp())
    return Mrkdwn(f"<!date^{epoch}^{{date_short_pretty}} {{time}}|"
                  f"{moment.isoformat(timespec='seconds')}>")


def link(url: str, label: str) -> Mrkdwn:
    """``label`` linking to ``url``; a URL that would break out of the link shows no link."""
    if not url.startswith(("https://", "http://")) or any(c in url for c in "<>| \n"):
        return prose(label)
    return Mrkdwn(f"<{url.replace('&', '&amp;')}|{prose(label)}>")


def markup(template: str, /, **values: str) -> Mrkdwn:
    """Fill a trusted ``template`` (``str.format`` fields): ``Mrkdwn`` values as they are,
    plain strings as untrusted prose."""
    return Mrkdwn(template.format_map(
        {name: value if isinstance(value, Mrkdwn) else prose(value)
         for name, value in values.items()}))


def lines(parts: list[Mrkdwn]) -> Mrkdwn:
    return Mrkdwn("\n".join(parts))


def fit(text: Mrkdwn, limit: int) -> Mrkdwn:
    """Cut markup to ``limit`` characters without breaking an entity (``&lt;``), a token
    (``<@U…>``, ``<!date^…>``) or an inline code span."""
    return Mrkdwn(_cut(text, limit, spans=True))


def _cut(text: str, limit: int, *, spans: bool) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    opened = cut.rfind("<")
    if opened != -1 and ">" not in cut[opened:]:
        cut = cut[:opened]
    if spans and "```" not in cut and cut.count("`") % 2:
        cut = cut[: cut.rfind("`")]  # an unclosed span would show the rest as code
    return cut + ELLIPSIS


def plain(text: str, limit: int) -> str:
    """For ``plain_text`` objects: Slack does not parse them, only the length matters."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
