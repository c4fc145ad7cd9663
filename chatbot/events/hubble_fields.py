"""Readers for the fields of a Hubble flow (Cilium's flow.proto, protojson names) that become
parts of a FlowEvent: each validates one field and names it in the BadEvent it raises."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chatbot.errors import BadEvent
from chatbot.events import names
from chatbot.events.model import HttpCall

MAX_NAMES = 64
CACHE_LIMIT = 10_000
"""Entries per memo below: a flood repeats a few services, URLs and names, each validated
once; a memo that fills starts over, so a stream of distinct values cannot grow memory."""
MAX_CACHED_URL = 2048
_PORTED = ("TCP", "UDP", "SCTP")
_UNPORTED = frozenset({"ICMPv4", "ICMPv6", "VRRP", "IGMP"})


def layer4(l4: object) -> tuple[str, int, int] | None:
    """(protocol, source port, destination port), or None for what intents cannot express."""
    if l4 is None:
        return None
    if not isinstance(l4, dict):
        raise BadEvent("field 'flow.l4' must be an object")
    for protocol in _PORTED:
        ports = l4.get(protocol)
        if ports is None:
            continue
        if not isinstance(ports, dict):
            raise BadEvent(f"field 'flow.l4.{protocol}' must be an object")
        port = ports.get("destination_port")
        source_port = ports.get("source_port", 0)
        if type(port) is not int or not 1 <= port <= 65535:
            raise BadEvent(f"field 'flow.l4.{protocol}.destination_port' must be an integer "
                           "from 1 to 65535")
        if type(source_port) is not int or not 0 <= source_port <= 65535:
            raise BadEvent(f"field 'flow.l4.{protocol}.source_port' must be an integer from 0 "
                           "to 65535")
        return protocol, source_port, port
    if l4.keys() & _UNPORTED or not l4:
        return None
    raise BadEvent(f"field 'flow.l4' has no known protocol: {shown(sorted(l4))}")

def http_call(l7: object) -> HttpCall | None:
    if l7 is None:
        return None
    if not isinstance(l7, dict):
        raise BadEvent("field 'flow.l7' must be an object")
    http = l7.get("http")
    if http is None:
        return None
    if not isinstance(http, dict):
        raise BadEvent("field 'flow.l7.http' must be an object")
    method = optional_str(http, "method", "flow.l7.http.")
    url = optional_str(http, "url", "flow.l7.http.")
    if method is None or url is None:
        raise BadEvent("field 'flow.l7.http' needs a method and a url")
    known = _CALLS.get((method, url))
    if known is not None:
        return known
    call = _http_call(method, url)
    if len(url) <= MAX_CACHED_URL:
        remember(_CALLS, (method, url), call)
    return call


def _http_call(method: str, url: str) -> HttpCall:
    if method not in names.HTTP_METHODS:
        raise BadEvent(f"HTTP method {shown(method)} has no ClientIntents equivalent")
    try:
        path = urlsplit(url).path or "/"
    except ValueError as exc:
        raise BadEvent(f"field 'flow.l7.http.url' is not a URL: {exc}") from exc
    if names.HTTP_PATH.fullmatch(path) is None:
        raise BadEvent(f"the path of 'flow.l7.http.url' is {shown(path)}, not a path "
                       "starting with / (printable, no spaces, ≤1024)")
    return HttpCall(path=path, method=method)

def service(raw: object, default_namespace: str) -> tuple[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadEvent("field 'flow.destination_service' must be an object")
    name = optional_str(raw, "name", "flow.destination_service.")
    if not name:
        return None
    namespace = optional_str(raw, "namespace", "flow.destination_service.") or default_namespace
    known = _SERVICES.get((name, namespace))
    if known is not None:
        return known
    if not names.is_object_name(name) or not names.is_namespace(namespace):
        raise BadEvent(f"field 'flow.destination_service' names {shown(f'{namespace}/{name}')}"
                       ", not a Kubernetes Service")
    return remember(_SERVICES, (name, namespace), (name, namespace))

def domain(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_NAMES:
        raise BadEvent(f"field 'flow.destination_names' must be a list of at most {MAX_NAMES} "
                       "names")
    if not raw:
        return None
    first = raw[0]
    if type(first) is not str:
        raise BadEvent("field 'flow.destination_names' must hold strings")
    known = _DOMAINS.get(first)
    if known is not None:
        return known
    domain = first.rstrip(".").lower()  # DNS names may arrive fully qualified
    if not names.is_domain(domain):
        raise BadEvent(f"destination name {shown(first)} is not a DNS name")
    return remember(_DOMAINS, first, domain)

def destination_ip(flow: Mapping[str, Any]) -> str:
    ip = flow.get("IP")
    address = ip.get("destination") if isinstance(ip, dict) else None
    if type(address) is not str or not names.is_ip(address):
        raise BadEvent("a world destination needs 'flow.destination_names' or a valid "
                       "'flow.IP.destination'")
    return address

def time(value: object) -> datetime:
    if value is None:
        raise BadEvent("missing field 'flow.time'")
    if type(value) is not str or len(value) > 40:
        raise BadEvent("field 'flow.time' must be an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadEvent(f"field 'flow.time' is {shown(value)}, not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise BadEvent("field 'flow.time' needs a time zone offset (e.g. Z)")
    return parsed

def optional_str(doc: Mapping[str, Any], key: str, prefix: str = "flow.") -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise BadEvent(f"field '{prefix}{key}' must be a string")
    return value

def shown(value: object, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-1]


K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V) -> V:
    """Store a validated result in a bounded memo (see CACHE_LIMIT); the value."""
    if len(memo) >= CACHE_LIMIT:
        memo.clear()
    memo[key] = value
    return value


# Only what passed validation is remembered; a rejected value is judged again each time.
_CALLS: dict[tuple[str, str], HttpCall] = {}
_SERVICES: dict[tuple[str, str], tuple[str, str]] = {}
_DOMAINS: dict[str, str] = {}
