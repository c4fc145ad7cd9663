"""A seeded corpus of malformed and hostile Kafka records, every one invalid by construction:
cut-off and fuzzed JSON, bytes that are not UTF-8, wrong types, missing and unknown fields,
huge strings and oversize records, names Kubernetes would refuse, control characters, and
chat mention injection (``<!channel>``, ``<@U…>``) where a name should be.

Each generator starts from a valid event and breaks it in one known way, so the test can
expect every record on the dead-letter topic and none in Slack.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import orjson

Doc = dict[str, Any]
MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0OWNER>", "<#C0FLOW>", "@channel",
            "<!subteam^S0ONCALL>", "<https://evil.example|click>")
CONTROL = ("\x00", "\n", "\r", "\t", "\x1b[31m", "\x7f", "\u202e", "\u200b")
NAME_FIELDS = (("client", "name"), ("client", "namespace"), ("target", "name"),
               ("target", "namespace"), (None, "cluster"))


def valid(dice: random.Random, index: int) -> Doc:
    return {"schema_version": 1, "event_id": f"bad-{index}", "observed_at": "2026-11-23T10:00:00Z",
            "cluster": "bench",
            "client": {"name": f"web-{dice.randrange(50)}", "namespace": "shop",
                       "kind": "Deployment"},
            "target": {"type": "kubernetes", "name": "api", "namespace": "shop", "port": 8080,
                       "protocol": "TCP"}}


def _set(doc: Doc, path: tuple[str | None, str], value: Any) -> Doc:
    parent, key = path
    (doc if parent is None else doc[parent])[key] = value
    return doc


def truncated(dice: random.Random, doc: Doc) -> bytes:
    raw = orjson.dumps(doc)
    return raw[: dice.randrange(1, len(raw) - 1)]  # a strict prefix of an object never parses


def fuzzed(dice: random.Random, doc: Doc) -> bytes:
    raw = bytearray(orjson.dumps(doc))
    for _ in range(dice.randint(1, 6)):
        raw.insert(dice.randrange(1, len(raw)), dice.choice(b"{}[]:,\"\\"))
    broken = bytes(raw[:-1])  # drop the closing brace; an inserted one may close it again,
    return broken if not _parses(broken) else broken + b"]"  # so make sure it cannot parse


def garbage(dice: random.Random, _doc: Doc) -> bytes:
    return bytes([0xFF]) + dice.randbytes(dice.randint(0, 300))


def not_utf8(dice: random.Random, doc: Doc) -> bytes:
    marker = "NOTUTF8"
    raw = orjson.dumps(_set(doc, dice.choice(NAME_FIELDS), marker))
    return raw.replace(marker.encode(), dice.choice([b"\xff\xfe", b"caf\xe9", b"\xc3\x28"]))


_NOT_A_STRING = (["list"], {"an": "object"}, True, 3.5, 12345, None)
_WRONG: dict[tuple[str | None, str], tuple[Any, ...]] = {
    **dict.fromkeys([*NAME_FIELDS, (None, "event_id"), (None, "observed_at")], _NOT_A_STRING),
    ("target", "port"): ("8080", 80.5, True, [80], {"port": 80}),
    (None, "count"): ("3", 2.5, True, [1], {"n": 1}),
    (None, "client"): ("web", 1, [], True),
    (None, "target"): ("api", 1, [{}], False),
    ("client", "labels"): (["a"], "app=web", 7, {"app": 1}, {"app": None}),
    (None, "schema_version"): ("1", True, [1], None, {"v": 1}),
}


def wrong_type(dice: random.Random, doc: Doc) -> bytes:
    path = dice.choice(sorted(_WRONG, key=str))
    return orjson.dumps(_set(doc, path, dice.choice(_WRONG[path])))


def huge(dice: random.Random, doc: Doc) -> bytes:
    if dice.random() < 0.2:  # over the 64 KiB record limit as a whole
        doc["client"]["labels"] = {f"k{i}": "v" * 60 for i in range(1200)}
        return orjson.dumps(doc)
    path = dice.choice([*NAME_FIELDS, (None, "event_id")])
    return orjson.dumps(_set(doc, path, "a" * dice.randint(254, 20_000)))


def invalid_name(dice: random.Random, doc: Doc) -> bytes:
    bad = dice.choice(["Upper-Case", "under_score", "-leading", "trailing-", "dot..dot",
                       "spa ce", "ünïcode", "x" * 64 + "." + "y" * 64, "", "a/b", "*"])
    path = dice.choice(NAME_FIELDS)
    if path[1] in ("name", "cluster") and bad == "x" * 64 + "." + "y" * 64:
        bad = "x" * 300
    return orjson.dumps(_set(doc, path, bad))


def control_chars(dice: random.Random, doc: Doc) -> bytes:
    path = dice.choice([*NAME_FIELDS, (None, "event_id")])
    return orjson.dumps(_set(doc, path, f"web{dice.choice(CONTROL)}app"))


def mention(dice: random.Random, doc: Doc) -> bytes:
    path = dice.choice([*NAME_FIELDS, ("client", "kind")])
    return orjson.dumps(_set(doc, path, f"web{dice.choice(MENTIONS)}"))


def structure(dice: random.Random, doc: Doc) -> bytes:
    choice = dice.randrange(7)
    if choice == 0:
        del doc[dice.choice(["event_id", "observed_at", "cluster", "client", "target"])]
    elif choice == 1:
        doc[dice.choice(["extra", "Event_ID", "client_name"])] = "x"
    elif choice == 2:
        doc["schema_version"] = dice.choice([0, 2, "1", None])
    elif choice == 3:
        doc["target"]["type"] = dice.choice(["pod", "", "Kubernetes", "ftp"])
    elif choice == 4:
        return dice.choice([b"[]", b"null", b"42", b'"flow"', b"true", b"[{}]", b"", b"  "])
    elif choice == 5:
        doc["count"] = dice.choice([0, -1, 10**12])
    else:
        doc["target"]["port"] = dice.choice([0, 70000, -80])
    return orjson.dumps(doc)


def _parses(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


BREAKERS: tuple[Callable[[random.Random, Doc], bytes], ...] = (
    truncated, fuzzed, garbage, not_utf8, wrong_type, huge, invalid_name, control_chars,
    mention, structure)


def corpus(size: int, *, seed: int) -> list[bytes]:
    """``size`` invalid records, a seeded mix of every kind of breakage."""
    dice = random.Random(seed)
    records = [BREAKERS[i % len(BREAKERS)](dice, copy.deepcopy(valid(dice, i)))
               for i in range(size)]
    dice.shuffle(records)
    return records
