"""Kubeconfig files for the bench cluster, self-contained (CA and credentials embedded) so
that a client needs nothing but the file: certificate users and service-account token users."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

CONTEXT = "bench"


def write_certificate_kubeconfig(
    path: Path, *, server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes
) -> Path:
    credentials = {
        "client-certificate-data": _b64(cert_pem),
        "client-key-data": _b64(key_pem),
    }
    return _write(path, server=server, ca_pem=ca_pem, user=user, credentials=credentials)


def write_token_kubeconfig(
    path: Path, *, server: str, ca_pem: bytes, user: str, token: str
) -> Path:
    return _write(path, server=server, ca_pem=ca_pem, user=user, credentials={"token": token})


def _write(
    path: Path, *, server: str, ca_pem: bytes, user: str, credentials: dict[str, str]
) -> Path:
    document: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
