"""TLS to Redis, what needs no server: line311's own certificates, the server's config lines,
and which CA the clients trust for which settings."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from line311.config import load_settings
from line311.errors import ConfigError
from line311.live.server import render_conf
from line311.live.tls import OWN_TLS_DIR, RedisTls, ensure_own_certs, tls_for


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_given_no_certificates_when_ensured_then_a_ca_and_a_server_certificate_for_loopback_are_made(
    tmp_path: Path,
) -> None:
    own = ensure_own_certs(tmp_path / "tls")

    ca, server = _cert(own.ca_file), _cert(own.cert_file)
    assert server.issuer == ca.subject
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert server.signature_hash_algorithm is not None
    ca_key.verify(  # raises if the CA did not sign it
        server.signature, server.tbs_certificate_bytes, ec.ECDSA(server.signature_hash_algorithm)
    )
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE(own.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    assert not list((tmp_path / "tls").glob("ca.key"))  # the CA key is not kept


def test_given_valid_certificates_when_ensured_again_then_they_are_kept(tmp_path: Path) -> None:
    first = ensure_own_certs(tmp_path)
    before = first.cert_file.read_bytes()

    again = ensure_own_certs(tmp_path)

    assert again == first
    assert again.cert_file.read_bytes() == before


def test_given_certificates_about_to_expire_when_ensured_then_new_ones_are_made(
    tmp_path: Path,
) -> None:
    first = ensure_own_certs(tmp_path)
    before = first.cert_file.read_bytes()
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=820)  # the server's lasts 825 days

    ensure_own_certs(tmp_path, now=late)

    assert first.cert_file.read_bytes() != before


def test_given_an_unreadable_certificate_when_ensured_then_new_ones_are_made(
    tmp_path: Path,
) -> None:
    own = ensure_own_certs(tmp_path)
    own.cert_file.write_text("not a certificate")

    ensure_own_certs(tmp_path)

    assert _cert(own.cert_file).issuer == _cert(own.ca_file).subject


def test_given_tls_when_the_conf_is_rendered_then_it_listens_with_tls_only() -> None:
    lines = render_conf(port=6390, data_dir="/data", password="x", tls=True).splitlines()

    assert "port 0" in lines
    assert "tls-port 6390" in lines
    assert 'tls-cert-file "/data/server.crt"' in lines
    assert 'tls-key-file "/data/server.key"' in lines
    assert 'tls-ca-cert-file "/data/ca.crt"' in lines
    assert "tls-auth-clients no" in lines
    assert "port 6390" not in lines
    assert "port 6390" in render_conf(port=6390, data_dir="/data").splitlines()


def test_given_redis_tls_off_then_the_clients_speak_plain_tcp(tmp_path: Path) -> None:
    assert tls_for(load_settings(state_dir=tmp_path)) is None


def test_given_redis_tls_and_the_own_redis_then_the_clients_trust_the_own_ca(
    tmp_path: Path,
) -> None:
    tls = tls_for(load_settings(state_dir=tmp_path, redis_tls=True))
    assert tls == RedisTls(tmp_path / OWN_TLS_DIR / "ca.crt")


def test_given_redis_tls_with_sentinels_and_no_ca_then_the_system_trust_store_is_used(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, redis_tls=True, redis_sentinels=["10.0.0.1:26379"])
    tls = tls_for(settings)
    assert tls == RedisTls(None)
    assert tls.redis_options()["ssl_ca_certs"] is None
    assert tls.redis_options()["ssl_cert_reqs"] == "required"


def test_given_a_ca_and_a_client_certificate_then_both_are_used(tmp_path: Path) -> None:
    own = ensure_own_certs(tmp_path)
    settings = load_settings(
        state_dir=tmp_path,
        redis_tls=True,
        redis_tls_ca_file=own.ca_file,
        redis_tls_cert_file=own.cert_file,
        redis_tls_key_file=own.key_file,
    )
    tls = tls_for(settings)
    assert tls == RedisTls(own.ca_file, own.cert_file, own.key_file)
    options = tls.redis_options()
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (
        str(own.cert_file),
        str(own.key_file),
    )
    context = tls.context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_given_a_client_certificate_without_a_key_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="go together"):
        load_settings(state_dir=tmp_path, redis_tls_key_file=tmp_path / "k.pem")
