"""A webhook changes state only when its signature checks out: the forges' HMAC-SHA256 over
the exact body, compared in constant time; anything forged, altered or unsigned is refused."""

from __future__ import annotations

import pytest

from chatbot.forge.webhook import signature, verify_gitea_signature, verify_github_signature

# The example values in GitHub's "Validating webhook deliveries" guide.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_HEADER = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_documented_example_verifies() -> None:
    assert verify_github_signature(secret=GITHUB_SECRET, body=GITHUB_BODY, header=GITHUB_HEADER)


@pytest.mark.parametrize("header", [
    None, "", "sha256=", GITHUB_HEADER.replace("sha256=", "sha1="),
    GITHUB_HEADER.removeprefix("sha256="), GITHUB_HEADER[:-1] + "0",
    "sha256=" + "é" * 64,
])
def test_a_missing_or_wrong_github_signature_is_refused(header: str | None) -> None:
    assert not verify_github_signature(secret=GITHUB_SECRET, body=GITHUB_BODY, header=header)


def test_a_github_signature_over_another_body_or_secret_is_refused() -> None:
    assert not verify_github_signature(secret=GITHUB_SECRET, body=b"Hello, World?",
                                       header=GITHUB_HEADER)
    assert not verify_github_signature(secret="guess", body=GITHUB_BODY, header=GITHUB_HEADER)
    assert not verify_github_signature(secret="", body=GITHUB_BODY, header=GITHUB_HEADER)


def test_a_gitea_signature_is_the_bare_hex_digest() -> None:
    body = b'{"action":"closed","number":3}'
    header = signature(secret="hook-secret", body=body)
    assert verify_gitea_signature(secret="hook-secret", body=body, header=header)
    assert verify_gitea_signature(secret=b"hook-secret", body=body, header=header.upper())
    assert not verify_gitea_signature(secret="hook-secret", body=body + b" ", header=header)
    assert not verify_gitea_signature(secret="other", body=body, header=header)
    assert not verify_gitea_signature(secret="hook-secret", body=body, header=None)
    assert not verify_gitea_signature(secret="hook-secret", body=body, header="sha256=" + header)
    assert not verify_gitea_signature(secret="", body=body, header=signature(secret="", body=body))
