"""Name rules for event fields: Kubernetes DNS-1123 names, labels, Kafka topics, domains.

Every check is a precompiled regular expression plus a length limit, so validation stays
cheap on the hot path. :class:`NameChecks` bundles them for the parsers; a remembering one
(owned by one decoder) skips the expression for names it already accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
DNS_LABEL = re.compile(_LABEL)
DNS_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")
LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
# An optional DNS-subdomain prefix of at most 253 characters, a slash, then the name; the
# look-ahead bounds the prefix (also valid ECMA-262, so the JSON Schema states it as is).
LABEL_KEY = re.compile(rf"(?:(?=[^/]{{1,253}}/){DNS_SUBDOMAIN.pattern}/)?{LABEL_NAME.pattern}")
LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# DNS names are case-insensitive: any case here, stored lower-cased by the parser.
_ANY_CASE_LABEL = r"[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"(?:\*\.)?{_ANY_CASE_LABEL}(?:\.{_ANY_CASE_LABEL})*")
# Printable, no whitespace: the path is shown in chat (escaped there), never interpreted.
HTTP_PATH = re.compile(r"/[\x21-\x7e]{0,1023}")
MAX_EVENT_ID = 128
EVENT_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_EVENT_ID}}}")
# RFC 3339 date-time (upper-case T and Z, as datetime.fromisoformat reads them); the
# calendar (no 30 February) is left to fromisoformat.
TIMESTAMP = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
# The characters of an address or CIDR block; ipaddress decides the rest. Keeps out the
# forms ipaddress also reads but an intent cannot carry (zone ids, netmasks).
IP_TEXT = re.compile(r"[0-9A-Fa-f:.]{2,45}(?:/[0-9]{1,3})?")

KAFKA_OPERATIONS = frozenset(
    {
        "all", "consume", "produce", "create", "alter", "delete", "describe",
        "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite",
    }
)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT"})
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})

MAX_NAME = 253


def is_namespace(value: str) -> bool:
    return DNS_LABEL.fullmatch(value) is not None


def is_object_name(value: str) -> bool:
    return len(value) <= MAX_NAME and DNS_SUBDOMAIN.fullmatch(value) is not None


def is_kind(value: str) -> bool:
    return KIND.fullmatch(value) is not None


def is_label_key(key: str) -> bool:
    return LABEL_KEY.fullmatch(key) is not None


def is_label_value(value: str) -> bool:
    return LABEL_VALUE.fullmatch(value) is not None


def is_topic(value: str) -> bool:
    return KAFKA_TOPIC.fullmatch(value) is not None


def is_domain(value: str) -> bool:
    return len(value) <= MAX_NAME and DOMAIN.fullmatch(value) is not None


def is_ip(value: str) -> bool:
    """An address or a CIDR block, as Otterize's internet targets accept."""
    if IP_TEXT.fullmatch(value) is None:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def is_http_path(value: str) -> bool:
    return HTTP_PATH.fullmatch(value) is not None


def is_event_id(value: str) -> bool:
    """EVENT_ID without the expression: printable ASCII is 0x20-0x7e, minus the space.
    Three string scans in C cost a fraction of a regex match, once per event."""
    return (0 < len(value) <= MAX_EVENT_ID and value.isascii() and value.isprintable()
            and " " not in value)


Check = Callable[[str], bool]


class _Remembered:
    """A name check that remembers the names it accepted. Events repeat the same few
    namespaces, workloads and kinds, so a set lookup replaces most regular-expression runs;
    the set is bounded and starts over when full."""

    def __init__(self, check: Check, limit: int) -> None:
        self._check = check
        self._limit = limit
        self._accepted: set[str] = set()

    def __call__(self, value: str) -> bool:
        if value in self._accepted:
            return True
        if not self._check(value):
            return False
        if len(self._accepted) >= self._limit:
            self._accepted.clear()
        self._accepted.add(value)
        return True


class NameChecks:
    """The name rules the parsers apply, one callable per kind of name. ``remember=0``
    (the default) checks every value afresh and holds no state; ``remember=N`` keeps up to
    N accepted values per rule, for one decoder to own."""

    __slots__ = ("domain", "http_path", "ip", "kind", "label_key", "label_value",
                 "namespace", "object_name", "topic")

    def __init__(self, *, remember: int = 0) -> None:
        def wrap(check: Check) -> Check:
            return _Remembered(check, remember) if remember > 0 else check

        self.object_name = wrap(is_object_name)
        self.namespace = wrap(is_namespace)
        self.kind = wrap(is_kind)
        self.label_key = wrap(is_label_key)
        self.label_value = wrap(is_label_value)
        self.topic = wrap(is_topic)
        self.domain = wrap(is_domain)
        self.ip = wrap(is_ip)
        self.http_path = wrap(is_http_path)
