"""A seeded corpus of near-valid events for comparing parsers: valid events of every shape,
each changed in one or two ways — a field set to a value from a pool of awkward ones (null,
bool, integral float, trailing newline, look-alike letters, near-limit lengths, zone ids,
netmasks, odd timestamps), dropped, duplicated in the text, an unknown field added, escapes
or whitespace changed, a byte flipped or cut, invalid UTF-8 spliced in.

Most mutants are bad events and many are valid ones; what matters is that each one tests a
place where two parsers could disagree.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from tests.events.samples import Doc, internet_event, kafka_event, kubernetes_event

SAMPLES = Path(__file__).resolve().parents[2] / "chatbot" / "samples" / "flows.jsonl"

_STRINGS = ("", " ", "a", "A", "a\n", "\na", "a b", "a\x00", "-a", "a-", "a.b", "a..b", "a/b",
            "/a", "a/", "ä", "\u212a", "K", "k", "x" * 63, "x" * 64, "x" * 128, "x" * 129,
            "x" * 253, "x" * 254, ("a" * 63 + ".") * 4, "<!channel>", "é".encode().decode(),
            "Deployment", "deployment", "TCP", "tcp", "GET", "get", "produce", "Produce",
            "orders.v1", "orders v1", "/v1", "/", "v1", "/a b", "/<!here>")
_TIMES = ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00z", "2025-03-01t12:00:00Z",
          "2025-03-01 12:00:00Z", "2025-03-01T12:00:00", "2025-03-01T12:00Z", "2025-03-01T12Z",
          "20250301T120000Z", "2025-03-01T12:00:00+0200", "2025-03-01T12:00:00+02",
          "2025-03-01T12:00:00+02:00", "2025-03-01T12:00:00-00:00", "2025-03-01T12:00:00+24:00",
          "2025-03-01T12:00:00+05:60", "2025-03-01T12:00:00,5Z", "2025-03-01T12:00:00.Z",
          "2025-03-01T12:00:00.5Z", "2025-03-01T12:00:00.1234567891Z", "2025-03-01T12:00:60Z",
          "2025-02-30T12:00:00Z", "2025-13-01T12:00:00Z", "2025-03-01T24:00:00Z",
          "2025-W09-6T12:00:00Z", "2025-060T12:00:00Z", "2025-03-01T12:00:00.999999Z",
          "2025-03-01T12:00:00+02:00:30", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
          "2025-03-01T12:00:00.٣Z", "2025-03-01T12:00:00Z\n", "x" * 41)
_IPS = ("10.0.0.1", "10.0.0.0/8", "10.0.0.0/255.0.0.0", "fe80::1%eth0", "::1", "::ffff:1.2.3.4",
        "999.1.1.1", "1.2.3.04", "10", "2001:db8::/129", "1.2.3.4/33", "1.2.3.4 ")
_NUMBERS = (0, 1, 1.0, 2.5, -1, 65535, 65536, 65535.0, 1e9, 1e10, 10**9, 10**9 + 1, True, False)
_OTHERS: tuple[object, ...] = (None, [], {}, ["a"], {"a": "b"})
_POOLS: tuple[tuple[object, ...], ...] = (_STRINGS, _TIMES, _IPS, _NUMBERS, _OTHERS)


def valid_documents() -> list[Doc]:
    docs = [kubernetes_event(), kafka_event(), internet_event()]
    docs += [orjson.loads(line) for line in SAMPLES.read_bytes().splitlines() if line.strip()]
    minimal = kubernetes_event()
    for field in ("reason", "severity", "count"):
        del minimal[field]
    del minimal["client"]["labels"]
    minimal["target"] = {"type": "kubernetes", "name": "payments", "namespace": "billing"}
    docs.append(minimal)
    docs.append({**internet_event(), "target": {"type": "internet", "ip": "10.0.0.0/8"}})
    return docs


def mutants(count: int, *, seed: int) -> Iterator[bytes]:
    dice = random.Random(seed)
    seeds = valid_documents()
    for _ in range(count):
        doc = copy.deepcopy(dice.choice(seeds))
        for _change in range(dice.choice((1, 1, 1, 2))):
            _change_document(dice, doc)
        yield _encode(dice, doc)


def _fields(doc: Doc, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, value in doc.items():
        found.append((*prefix, key))
        if isinstance(value, dict):
            found += _fields(value, (*prefix, key))
    return found


def _change_document(dice: random.Random, doc: Doc) -> None:
    path = dice.choice(_fields(doc))
    *parents, leaf = path
    node: dict[str, Any] = doc
    for key in parents:
        node = node[key]
    roll = dice.random()
    if roll < 0.12:
        del node[leaf]
    elif roll < 0.2:
        node[dice.choice(("extra", "Type", "labels", "kind", "http", "topic", "ip"))] = (
            dice.choice(dice.choice(_POOLS)))
    elif roll < 0.5 and isinstance(node[leaf], str):
        node[leaf] = _edit_string(dice, node[leaf])
    else:
        node[leaf] = dice.choice(dice.choice(_POOLS))


def _edit_string(dice: random.Random, text: str) -> str:
    choice = dice.randrange(6)
    if choice == 0:
        return text.upper()
    if choice == 1:
        return text + dice.choice(("\n", " ", ".", "-", "Z", "0"))
    if choice == 2:
        return text[: dice.randrange(len(text) + 1)]
    if choice == 3 and text:
        at = dice.randrange(len(text))
        return text[:at] + dice.choice(("\u212a", "ä", "_", "/", "\t", "%")) + text[at + 1:]
    if choice == 4:
        return text * dice.randint(2, 40)
    return text.replace("-", "--")


def _encode(dice: random.Random, doc: Doc) -> bytes:
    raw = orjson.dumps(doc)
    roll = dice.random()
    if roll < 0.06:  # the same document with ASCII escapes and spaces
        return json.dumps(doc, ensure_ascii=True, indent=dice.choice((None, 1))).encode()
    if roll < 0.12 and raw.count(b'":') > 1:  # a key repeated in the text: last one wins
        key = dice.choice(raw.split(b'"')[1::2])
        value = orjson.dumps(dice.choice(dice.choice(_POOLS)))
        return raw[:-1] + b',"' + key + b'":' + value + b"}"
    if roll < 0.16:
        at = dice.randrange(len(raw))
        splice = dice.choice((b"\xff", b"\xc3\x28", b"\xe2\x82", b"\\", b'"', b"\x00"))
        return raw[:at] + splice + raw[at:]
    if roll < 0.19:
        return raw[: dice.randrange(len(raw))]
    if roll < 0.21:
        return b"\xef\xbb\xbf" + raw
    if roll < 0.23:
        return raw + dice.choice((b"\n", b" ", b"x", b"{}"))
    return raw
