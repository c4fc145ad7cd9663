"""Plain, synchronous admin calls to the bench apiserver for set-up only (readiness, creating
ServiceAccounts, requesting tokens), so starting the bench needs no event loop or client."""

from __future__ import annotations

import http.client
import json
import ssl
from urllib.parse import urlsplit

from testbench.kube_pki import ClusterPki
from testbench.process import BenchError

# Paths that answer 200 only once the apiserver serves and has written the default RBAC
# roles and bindings (before that, a user's 403 could mean "not bootstrapped yet") and the
# "default" namespace.
READY_PATHS = (
    "/readyz",
    "/api/v1/namespaces/default",
    "/readyz/poststarthook/rbac/bootstrap-roles",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:basic-user",
)


class AdminApi:
    """The apiserver seen through the admin (system:masters) client certificate."""

    def __init__(self, server: str, pki: ClusterPki) -> None:
        parts = urlsplit(server)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 443
        self._tls = ssl.create_default_context(cafile=str(pki.ca_cert))
        self._tls.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))

    def ready(self) -> bool:
        try:
            return all(self._send("GET", path, None)[0] == 200 for path in READY_PATHS)
        except http.client.HTTPException:
            return False

    def call(
        self, method: str, path: str, body: dict[str, object] | None = None
    ) -> dict[str, object]:
        status, document = self._send(method, path, body)
        if status >= 300:
            raise _refused(f"{method} {path}", status, document)
        return document

    def ensure(self, collection: str, manifest: dict[str, object]) -> None:
        """Create `manifest` in `collection` unless an object of that name already exists."""
        status, document = self._send("POST", collection, manifest)
        if status not in (201, 409):
            raise _refused(f"POST {collection}", status, document)

    def _send(
        self, method: str, path: str, body: dict[str, object] | None
    ) -> tuple[int, dict[str, object]]:
        connection = http.client.HTTPSConnection(
            self._host, self._port, context=self._tls, timeout=10
        )
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            document: object = json.loads(raw) if raw else {}
        except ValueError:
            document = {"message": raw.decode(errors="replace")}
        return response.status, document if isinstance(document, dict) else {}


def _refused(request: str, status: int, document: dict[str, object]) -> BenchError:
    message = document.get("message", document)
    return BenchError("kube-apiserver", f"{request} -> {status}: {message}")
