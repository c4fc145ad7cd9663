"""The bench cluster's PKI: a throwaway CA, the apiserver's serving certificate, client
certificates that the apiserver maps to users and groups (CN = user, O = groups), and the
service-account signing key pair. Everything is made fresh per cluster with `cryptography`."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=7)
# The first address of --service-cluster-ip-range: in-cluster clients reach the apiserver there.
SERVICE_IP = "10.0.0.1"
SERVING_HOSTS = (
    "127.0.0.1",
    "localhost",
    SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA that issues the cluster's serving and client certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "chatbot-bench-ca") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert=cert, key=key)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue_client(self, user: str, groups: Sequence[str] = ()) -> IssuedCertificate:
        """A client certificate the apiserver reads as user `user` in `groups`."""
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        return self._issue(x509.Name(attributes), ExtendedKeyUsageOID.CLIENT_AUTH, hosts=())

    def issue_server(self, hosts: Sequence[str] = SERVING_HOSTS) -> IssuedCertificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
        return self._issue(name, ExtendedKeyUsageOID.SERVER_AUTH, hosts=hosts)

    def _issue(
        self, subject: x509.Name, usage: x509.ObjectIdentifier, *, hosts: Sequence[str]
    ) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(host) for host in hosts]),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCertificate(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_private_pem(key),
        )


@dataclass(frozen=True)
class ClusterPki:
    """The files the apiserver and its clients are started with."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path
    authority: CertificateAuthority


def create_cluster_pki(directory: Path) -> ClusterPki:
    """Make a CA, the serving and admin certificates and the service-account keys in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = CertificateAuthority.create()
    ca_cert = directory / "ca.crt"
    ca_cert.write_bytes(authority.cert_pem)
    serving_cert, serving_key = authority.issue_server().write(directory, "apiserver")
    admin_cert, admin_key = authority.issue_client(
        "bench-admin", groups=("system:masters",)
    ).write(directory, "admin")
    # Service-account tokens are signed with RS256 by default, hence RSA here.
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    service_account_key = directory / "service-account.key"
    service_account_key.write_bytes(_private_pem(signing_key))
    service_account_key.chmod(0o600)
    service_account_public_key = directory / "service-account.pub"
    service_account_public_key.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return ClusterPki(
        ca_cert=ca_cert,
        serving_cert=serving_cert,
        serving_key=serving_key,
        admin_cert=admin_cert,
        admin_key=admin_key,
        service_account_key=service_account_key,
        service_account_public_key=service_account_public_key,
        authority=authority,
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
