"""What a person reads: the stand-in's rendering of a message the way Slack shows it.

Tests that look at the payload a bot sent cannot see a token escaped once too often or a
mention that slipped through; this renders mrkdwn as Slack does and reports what a reader
gets — the visible text, the live mentions (who is notified), dates, links and styling:

- ``<@U…>`` reads ``@name`` and notifies that user; ``<!channel>``, ``<!here>``,
  ``<!everyone>`` and ``<!subteam^S…>`` notify many; ``<#C…>`` reads ``#name``;
- ``<!date^epoch^{tokens}|fallback>`` reads as a date (in UTC here, in the reader's zone in
  Slack); ``<url|text>`` reads ``text``;
- ``&lt;`` ``&gt;`` ``&amp;`` read as ``<`` ``>`` ``&`` — after the controls were read, so an
  escaped control is shown, never obeyed;
- ``*bold*``, ``_italic_``, ``~strike~`` lose their markers; inline code and code blocks are
  shown as they are.

``plain_text`` objects are shown as they are (Slack parses nothing in them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from testbench.slack.workspace import Ephemeral, JSONObject, Message, Workspace

_CODE = re.compile(r"```(?P<block>.*?)```|`(?P<code>[^`\n]+)`", re.DOTALL)
_CONTROL = re.compile(r"<([^<>\n]*)>")
_STYLES = (("bold", "*"), ("italic", "_"), ("strike", "~"))
_PLACEHOLDER = re.compile("[\ue000-\uf8ff]")
_LIVE = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}
_SCHEMES = ("http://", "https://", "mailto:", "tel:", "slack://", "ftp://")


@dataclass
class Shown:
    """A message, reply or ephemeral as a person reads it."""

    text: str
    mentions: list[str] = field(default_factory=list)
    """Who is notified: ``@name`` per user, ``@channel``/``@here``/``@everyone``, ``@handle``
    per user group."""
    dates: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    """``(text, url)``; channel links as ``(#name, channel id)``."""
    styled: list[tuple[str, str]] = field(default_factory=list)
    """``(style, text)`` for bold, italic, strike and code."""
    buttons: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    """Controls Slack does not understand (shown as they are)."""
    ts: str = ""
    is_reply: bool = False

    def __contains__(self, text: str) -> bool:
        return text in self.text


def shown_message(message: Message, workspace: Workspace) -> Shown:
    shown = _blocks(message.blocks, message.text, workspace)
    shown.ts, shown.is_reply = message.ts, message.is_reply
    return shown


def shown_ephemeral(ephemeral: Ephemeral, workspace: Workspace) -> Shown:
    shown = _blocks(ephemeral.blocks, ephemeral.text, workspace)
    shown.ts = ephemeral.message_ts
    return shown


def mrkdwn(text: str, workspace: Workspace) -> Shown:
    """One mrkdwn string as Slack shows it."""
    shown = Shown("")
    shown.text = _Reader(workspace, shown).read(text)
    return shown


def _blocks(blocks: list[JSONObject], text: str, workspace: Workspace) -> Shown:
    shown = Shown("")
    reader = _Reader(workspace, shown)
    if not blocks:  # without blocks Slack shows the text; with blocks, only the blocks
        shown.text = reader.read(text)
        return shown
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(reader.text_object(block.get("text")))
        elif kind == "section":
            parts.extend(piece for piece in [reader.text_object(block.get("text"))] +
                         [reader.text_object(f) for f in _list(block.get("fields"))] if piece)
        elif kind == "context":
            parts.append(" ".join(reader.text_object(e) for e in _list(block.get("elements"))
                                  if e.get("type") in ("mrkdwn", "plain_text")))
        elif kind == "actions":
            labels = [reader.text_object(e.get("text")) for e in _list(block.get("elements"))
                      if e.get("type") == "button"]
            shown.buttons.extend(labels)
            parts.append(" ".join(f"[{label}]" for label in labels))
        elif kind == "divider":
            parts.append("---")
    shown.text = "\n".join(parts)
    return shown


class _Reader:
    def __init__(self, workspace: Workspace, shown: Shown) -> None:
        self._ws = workspace
        self._shown = shown

    def text_object(self, value: object) -> str:
        if not isinstance(value, dict):
            return ""
        text = value.get("text")
        if not isinstance(text, str):
            return ""
        return self.read(text) if value.get("type") == "mrkdwn" else text

    def read(self, text: str) -> str:
        """Code first, controls next, then styling around them, entities last."""
        pieces: list[str] = []

        def hold(piece: str) -> str:
            pieces.append(piece)
            return chr(0xE000 + len(pieces) - 1)

        def unhold(held: str) -> str:
            while _PLACEHOLDER.search(held):
                held = _PLACEHOLDER.sub(lambda m: pieces[ord(m.group()) - 0xE000], held)
            return held

        def controls(part: str) -> str:
            return _CONTROL.sub(lambda match: hold(self._control(match.group(1))), part)

        def code(match: re.Match[str]) -> str:
            inner = match.group("block") if match.group("block") is not None else \
                match.group("code")
            # Nothing is styled in code, but a control in it is still read: the strict
            # choice, a mention the bot put in a code span would count as live.
            piece = unhold(_entities(controls(inner)))
            self._shown.styled.append(("code", piece))
            return hold(piece)

        held = controls(_CODE.sub(code, text))
        for style, marker in _STYLES:
            m = re.escape(marker)
            pattern = re.compile(
                rf"(?<![A-Za-z0-9]){m}(?!\s)([^{m}\n]+?)(?<!\s){m}(?![A-Za-z0-9])")

            def strip(match: re.Match[str], style: str = style) -> str:
                self._shown.styled.append((style, unhold(_entities(match.group(1)))))
                return match.group(1)

            held = pattern.sub(strip, held)
        return unhold(_entities(held))

    def _control(self, control: str) -> str:
        target, _, label = control.partition("|")
        if target.startswith("@"):
            user = self._ws.users.get(target[1:])
            name = "@" + (label or (user.name if user else target[1:]))
            self._shown.mentions.append(name)
            return name
        if target.startswith("#"):
            channel = self._ws.channels.get(target[1:])
            name = "#" + (label or (channel.name if channel else target[1:]))
            self._shown.links.append((name, target[1:]))
            return name
        if target.startswith("!"):
            return self._command(target[1:], label)
        if target.startswith(_SCHEMES):
            text = _entities(label) if label else _entities(target)
            self._shown.links.append((text, _entities(target)))
            return text
        self._shown.unread.append(f"<{control}>")
        return f"<{_entities(control)}>"

    def _command(self, command: str, fallback: str) -> str:
        name, _, rest = command.partition("^")
        if name in _LIVE:
            self._shown.mentions.append(_LIVE[name])
            return _LIVE[name]
        if name == "subteam":
            handle = self._ws.usergroup_handles.get(rest, rest)
            self._shown.mentions.append(f"@{handle}")
            return f"@{handle}"
        if name == "date":
            rendered = _date(rest, fallback)
            self._shown.dates.append(rendered)
            return rendered
        self._shown.unread.append(f"<!{command}>")
        return _entities(fallback)


def _date(spec: str, fallback: str) -> str:
    epoch, _, rest = spec.partition("^")
    template = rest.split("^", 1)[0]
    try:
        moment = datetime.fromtimestamp(int(epoch), UTC)
    except (ValueError, OverflowError):
        return _entities(fallback)
    day = moment.day
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    tokens = {
        "date_num": f"{moment:%Y-%m-%d}", "date_slash": f"{moment:%m/%d/%Y}",
        "date_short": f"{moment:%b} {day}, {moment:%Y}",
        "date_short_pretty": f"{moment:%b} {day}, {moment:%Y}",
        "date": f"{moment:%B} {day}{suffix}, {moment:%Y}",
        "date_pretty": f"{moment:%B} {day}{suffix}, {moment:%Y}",
        "date_long": f"{moment:%A, %B} {day}{suffix}, {moment:%Y}",
        "date_long_pretty": f"{moment:%A, %B} {day}{suffix}, {moment:%Y}",
        "time": f"{moment:%H:%M}", "time_secs": f"{moment:%H:%M:%S}",
    }
    unknown = False

    def token(match: re.Match[str]) -> str:
        nonlocal unknown
        if match.group(1) not in tokens:
            unknown = True
            return ""
        return tokens[match.group(1)]

    text = re.sub(r"\{(\w+)\}", token, template)
    return _entities(fallback) if unknown or not text else _entities(text)


def _entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _list(value: object) -> list[JSONObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
