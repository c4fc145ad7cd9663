"""Webhook signatures of the forges, pure: a pull-request event changes state only when its
body carries the HMAC-SHA256 of the shared secret, so a forged webhook changes nothing.

Gitea (and Forgejo) send ``X-Gitea-Signature`` (``X-Forgejo-Signature``): the hex digest of
the raw body. GitHub sends ``X-Hub-Signature-256``: ``sha256=`` and the hex digest. Both are
compared in constant time, over the exact bytes received (never a re-serialised JSON).
"""

from __future__ import annotations

import hashlib
import hmac

GITEA_SIGNATURE_HEADER = "X-Gitea-Signature"
FORGEJO_SIGNATURE_HEADER = "X-Forgejo-Signature"
GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"
_GITHUB_PREFIX = "sha256="


def signature(*, secret: str | bytes, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret`` (what Gitea puts in its header)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_gitea_signature(*, secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` (X-Gitea-Signature) signs ``body``; a missing header is False."""
    if not secret or not header:
        return False
    return _same(signature(secret=secret, body=body), header.strip().lower())


def verify_github_signature(*, secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` (X-Hub-Signature-256, ``sha256=<hex>``) signs ``body``."""
    if not secret or not header:
        return False
    given = header.strip()
    if not given.startswith(_GITHUB_PREFIX):
        return False
    return _same(signature(secret=secret, body=body), given[len(_GITHUB_PREFIX):].lower())


def _same(expected: str, given: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII text and a header is attacker input.
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
