"""TLS to the live-state Redis (edge).

With ``redis_tls = true`` every line311 client speaks TLS to Redis (``rediss://``) and checks
the server's certificate against ``redis_tls_ca_file`` (default: the system's trust store for a
Redis of your own; line311's own CA for the redis-server ``line311 run`` starts), presenting
``redis_tls_cert_file`` / ``redis_tls_key_file`` when the server asks for client certificates
(Redis's ``tls-auth-clients``). The password (AUTH) is still required: TLS protects it and the
calls' state on the wire, it does not replace it.

line311's own redis-server (`line311.live.server.RedisServer` with ``tls_dir``) gets a private
CA and a server certificate for 127.0.0.1 / localhost, made once into ``<state_dir>/redis-tls``
(`ensure_own_certs`: keys 0600; made again when they expire within 30 days), and listens with
TLS only (``port 0``, ``tls-port``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from line311.live.errors import LiveStateError

if TYPE_CHECKING:
    from line311.config import Settings

__all__ = ["OWN_TLS_DIR", "OwnCerts", "RedisTls", "ensure_own_certs", "own_ca_file", "tls_for"]

OWN_TLS_DIR = "redis-tls"
_RENEW_BEFORE = dt.timedelta(days=30)


_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True, slots=True)
class RedisTls:
    """How a client speaks TLS to Redis."""

    ca_file: Path | None = None
    """CA bundle the server's certificate must chain to; None: the system's trust store."""
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A client context (certificate and host name checked)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return ctx

    def redis_options(self) -> dict[str, Any]:
        """redis-py's keyword arguments for an SSL connection."""
        return {
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
            "ssl_ca_certs": str(self.ca_file) if self.ca_file else None,
            "ssl_certfile": str(self.cert_file) if self.cert_file else None,
            "ssl_keyfile": str(self.key_file) if self.key_file else None,
        }


@dataclass(frozen=True, slots=True)
class OwnCerts:
    """line311's own CA and its redis-server's certificate."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def own_ca_file(directory: Path) -> Path:
    """line311's own CA certificate in ``directory`` (`ensure_own_certs` makes it)."""
    return directory / "ca.crt"


def tls_for(settings: Settings) -> RedisTls | None:
    """The clients' TLS for ``settings`` (None: plain TCP)."""
    if not settings.redis_tls:
        return None
    ca = settings.redis_tls_ca_file
    if ca is None and not settings.redis_sentinels:  # line311's own redis-server
        ca = own_ca_file(Path(settings.state_dir) / OWN_TLS_DIR)
    return RedisTls(ca, settings.redis_tls_cert_file, settings.redis_tls_key_file)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _valid(cert_file: Path, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - _RENEW_BEFORE > now


def ensure_own_certs(directory: Path, *, now: dt.datetime | None = None) -> OwnCerts:
    """line311's own CA and server certificate in ``directory`` (made when missing, unreadable
    or expiring within 30 days)."""
    now = now or dt.datetime.now(dt.UTC)
    own = OwnCerts(own_ca_file(directory), directory / "server.crt", directory / "server.key")
    if all(p.exists() for p in (own.ca_file, own.key_file)) and all(
        _valid(p, now) for p in (own.ca_file, own.cert_file)
    ):
        return own
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise LiveStateError(f"cannot create {directory} for Redis TLS: {exc}") from None
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "line311 live-state CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    # the CA key is not kept: a new server certificate comes with a new CA
    _write(own.key_file, _key_pem(key), 0o600)
    _write(own.cert_file, server.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(own.ca_file, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    return own
