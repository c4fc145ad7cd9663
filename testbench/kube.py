"""The bench's Kubernetes control plane, started like controller-runtime's envtest: a real
etcd and kube-apiserver (RBAC on, TLS with client certificates, service-account tokens) on
loopback ports, with no nodes and no controller-manager. Tests and the bot reach it through
kubeconfig files: the admin's, a certificate user's or a ServiceAccount's."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from testbench.kube_api import AdminApi
from testbench.kube_build import ETCD_VERSION, KUBERNETES_VERSION, KubeBinaries, install
from testbench.kube_config import write_certificate_kubeconfig, write_token_kubeconfig
from testbench.kube_pki import ClusterPki, create_cluster_pki
from testbench.paths import fresh_workdir
from testbench.process import BenchError, Server, free_port, progress, spawn, wait_until

__all__ = ["KubeBinaries", "KubeCluster", "install", "start"]

ETCD_DATA = "etcd-data"
ETCD_QUOTA_BYTES = 256 * 1024 * 1024
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
TOKEN_LIFETIME_SECONDS = 24 * 3600
START_TIMEOUT = 120.0
STOP_GRACE = 15.0


@dataclass
class KubeCluster:
    """A running etcd + kube-apiserver pair and the credentials to reach it."""

    server: str
    admin_kubeconfig: Path
    workdir: Path
    pki: ClusterPki
    etcd: Server
    etcd_url: str
    apiserver: Server
    admin_api: AdminApi
    apiserver_binary: Path | None = None

    def user_kubeconfig(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for user `name` in `groups`; it may do only what RBAC grants it."""
        issued = self.pki.authority.issue_client(name, groups)
        return write_certificate_kubeconfig(
            self.workdir / "kubeconfigs" / f"user-{_file_safe(name)}.yaml",
            server=self.server,
            ca_pem=self.pki.authority.cert_pem,
            user=name,
            cert_pem=issued.cert_pem,
            key_pem=issued.key_pem,
        )

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A token kubeconfig for ServiceAccount `namespace/name`, created if missing."""
        self.admin_api.ensure(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
        self.admin_api.ensure(
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        )
        token_request = self.admin_api.call(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": TOKEN_LIFETIME_SECONDS},
            },
        )
        status = token_request.get("status")
        token = status.get("token") if isinstance(status, dict) else None
        if not isinstance(token, str):
            raise BenchError("kube-apiserver", f"TokenRequest for {namespace}/{name} gave no token")
        return write_token_kubeconfig(
            self.workdir / "kubeconfigs" / f"sa-{_file_safe(namespace)}-{_file_safe(name)}.yaml",
            server=self.server,
            ca_pem=self.pki.authority.cert_pem,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token,
        )

    def env(self) -> dict[str, str]:
        return {"CHATBOT_KUBECONFIG": str(self.admin_kubeconfig)}

    def stop_apiserver(self) -> None:
        """Stop only the kube-apiserver (clients get "connection refused"); etcd keeps the
        data for :meth:`start_apiserver`. For fault tests."""
        self.apiserver.stop(grace=STOP_GRACE)

    def start_apiserver(self) -> None:
        """Start the kube-apiserver again on the same port, so kubeconfigs stay valid."""
        if self.apiserver_binary is None:
            raise BenchError("kube-apiserver", "this cluster does not know its binary")
        if self.apiserver.alive():
            raise BenchError("kube-apiserver", "already running")
        self.apiserver, _ = _start_apiserver(self.apiserver_binary, self.workdir, self.pki,
                                             self.etcd_url, port=urlsplit(self.server).port)

    def stop(self) -> None:
        """Stop the apiserver, then etcd (the apiserver needs etcd to shut down cleanly).
        Logs, PKI and kubeconfigs stay for a post-mortem; etcd's data goes, because its
        write-ahead log preallocates 64 MB per run."""
        self.apiserver.stop(grace=STOP_GRACE)
        self.etcd.stop(grace=STOP_GRACE)
        shutil.rmtree(self.workdir / ETCD_DATA, ignore_errors=True)

    def describe(self) -> str:
        return "\n".join(
            [
                f"kube-apiserver {KUBERNETES_VERSION}: {self.server} "
                f"(pid {self.apiserver.pid}, log {self.apiserver.log})",
                f"etcd {ETCD_VERSION}: {self.etcd_url} (pid {self.etcd.pid}, log {self.etcd.log})",
                f"admin kubeconfig: {self.admin_kubeconfig}",
                f"work directory: {self.workdir}",
            ]
        )


def start(binaries: KubeBinaries | None = None) -> KubeCluster:
    """Build if needed, then start etcd and kube-apiserver and wait until RBAC is bootstrapped."""
    binaries = binaries or install()
    workdir = fresh_workdir("kube")
    pki = create_cluster_pki(workdir / "pki")
    progress(f"starting etcd {ETCD_VERSION} and kube-apiserver {KUBERNETES_VERSION} in {workdir}")
    etcd, etcd_url = _start_etcd(binaries.etcd, workdir)
    try:
        apiserver, server = _start_apiserver(binaries.kube_apiserver, workdir, pki, etcd_url)
    except BaseException:
        etcd.stop(grace=STOP_GRACE)
        raise
    admin_kubeconfig = write_certificate_kubeconfig(
        workdir / "kubeconfigs" / "admin.yaml",
        server=server,
        ca_pem=pki.authority.cert_pem,
        user="bench-admin",
        cert_pem=pki.admin_cert.read_bytes(),
        key_pem=pki.admin_key.read_bytes(),
    )
    return KubeCluster(
        server=server,
        admin_kubeconfig=admin_kubeconfig,
        workdir=workdir,
        pki=pki,
        etcd=etcd,
        etcd_url=etcd_url,
        apiserver=apiserver,
        admin_api=AdminApi(server, pki),
        apiserver_binary=binaries.kube_apiserver,
    )


def _start_etcd(binary: Path, workdir: Path) -> tuple[Server, str]:
    client_url = f"http://127.0.0.1:{free_port()}"
    peer_url = f"http://127.0.0.1:{free_port()}"
    argv = [
        str(binary),
        "--name=bench",
        f"--data-dir={workdir / ETCD_DATA}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=bench={peer_url}",
        f"--quota-backend-bytes={ETCD_QUOTA_BYTES}",
        "--snapshot-count=5000",
        # A throwaway store: durability across power loss buys nothing and costs seconds.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]
    etcd = spawn("etcd", argv, log=workdir / "etcd.log")
    wait_until(
        etcd, lambda: _etcd_healthy(client_url), what="healthy", timeout=START_TIMEOUT
    )
    return etcd, client_url


def _etcd_healthy(client_url: str) -> bool:
    with urllib.request.urlopen(f"{client_url}/health", timeout=2) as response:  # noqa: S310
        body: object = json.loads(response.read())
    return isinstance(body, dict) and body.get("health") == "true"


def _start_apiserver(
    binary: Path, workdir: Path, pki: ClusterPki, etcd_url: str, *, port: int | None = None
) -> tuple[Server, str]:
    port = port or free_port()
    server = f"https://127.0.0.1:{port}"
    argv = [
        str(binary),
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--etcd-servers={etcd_url}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        f"--service-account-issuer={server}",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        # No controller-manager creates the "default" ServiceAccount this plugin insists on.
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        "--profiling=false",
        "--enable-priority-and-fairness=false",
        # Nothing runs in this cluster to reach the "kubernetes" Service, and its endpoint
        # reconciler rejects a loopback address every few seconds in the log.
        "--endpoint-reconciler-type=none",
    ]
    apiserver = spawn("kube-apiserver", argv, log=workdir / "kube-apiserver.log")
    api = AdminApi(server, pki)
    wait_until(apiserver, api.ready, what="ready with RBAC bootstrapped", timeout=START_TIMEOUT)
    return apiserver, server


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
