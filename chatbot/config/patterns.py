"""Namespace patterns (shell-style globs such as ``payments-*``): whether one can match any
Kubernetes namespace at all, and whether one pattern covers another — the rules file's
checks, plain functions with no I/O.

A namespace name is a DNS-1123 label: lower-case letters, digits and ``-``, starting and
ending with a letter or digit, at most 63 characters. A pattern holding anything else (an
upper-case letter, ``/``, a space, regular-expression syntax) matches nothing, silently —
which is why the rules loader refuses it.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

MAX_NAMESPACE = 63
GLOB_CHARACTERS = frozenset("*?[]!")
_NAMESPACE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_REGEX = re.compile(r"\.[*+?]|[\^$|()+\\{}]")


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` can never match a namespace, or None if it can."""
    if pattern != pattern.strip() or " " in pattern:
        return "contains a space, which no namespace name does"
    if any(ch.isupper() for ch in pattern):
        return "has upper-case letters; namespace names are lower-case"
    if "/" in pattern:
        return "has a '/'; a pattern matches the namespace name alone (no workload part)"
    if _REGEX.search(pattern):
        return ("looks like a regular expression; patterns are shell-style globs, "
                "such as payments-* or team-?")
    strange = sorted(set(pattern) - _NAMESPACE_CHARACTERS - GLOB_CHARACTERS)
    if strange:
        return f"has {', '.join(map(repr, strange))}, which no namespace name contains"
    literal = [ch for ch in pattern if ch not in GLOB_CHARACTERS]
    if "*" not in pattern and len(literal) > MAX_NAMESPACE:
        return f"is longer than a namespace name can be ({MAX_NAMESPACE} characters)"
    if pattern.startswith("-") or pattern.endswith("-"):
        return "starts or ends with '-'; namespace names start and end with a letter or digit"
    return None


def is_literal(pattern: str) -> bool:
    return not any(ch in GLOB_CHARACTERS for ch in pattern)


def covers(earlier: str, later: str) -> bool:
    """True when every namespace ``later`` matches is matched by ``earlier`` too (so a rule
    of ``later`` after one of ``earlier`` never wins). Conservative: False when unsure."""
    if earlier == "*" or earlier == later:
        return True
    if is_literal(later):
        return fnmatchcase(later, earlier)
    prefix = earlier[:-1]
    # "payments-*" covers "payments-eu-*" and "payments-?": a later pattern that starts
    # with the same literal prefix matches only names with that prefix.
    return earlier.endswith("*") and is_literal(prefix) and later.startswith(prefix)
