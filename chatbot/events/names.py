"""Name rules for event fields: Kubernetes DNS-1123 names, labels, Kafka topics, domains.

Every check is a precompiled regular expression plus a length limit, so validation stays
cheap on the hot path.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
DNS_LABEL = re.compile(_LABEL)
DNS_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")
LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
DOMAIN = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
# Printable, no whitespace: the path is shown in chat (escaped there), never interpreted.
HTTP_PATH = re.compile(r"/[\x21-\x7e]{0,1023}")
EVENT_ID = re.compile(r"[\x21-\x7e]{1,128}")

KAFKA_OPERATIONS = frozenset(
    {
        "all", "consume", "produce", "create", "alter", "delete", "describe",
        "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite",
    }
)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT"})
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})


def is_namespace(value: str) -> bool:
    return DNS_LABEL.fullmatch(value) is not None


def is_object_name(value: str) -> bool:
    return len(value) <= 253 and DNS_SUBDOMAIN.fullmatch(value) is not None


def is_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not is_object_name(prefix):
        return False
    return LABEL_NAME.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    return LABEL_VALUE.fullmatch(value) is not None


def is_domain(value: str) -> bool:
    """DNS names are case-insensitive; the parser stores them lower-cased."""
    return len(value) <= 253 and DOMAIN.fullmatch(value.lower()) is not None


def is_ip(value: str) -> bool:
    """An address or a CIDR block, as Otterize's internet targets accept."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
