"""Passwords, signed tokens and roles (no database)."""

from __future__ import annotations

import pytest

from line311.dashboard.auth import (
    Role,
    TokenSigner,
    hash_password,
    verify_password,
)
from line311.dashboard.errors import AccountError, AuthError

T0 = 1_700_000_000.0


def test_a_password_hash_is_salted_scrypt_and_verifies_only_the_right_password() -> None:
    first = hash_password("correct horse battery")
    second = hash_password("correct horse battery")
    assert first.startswith("scrypt$16384$8$1$")
    assert first != second  # a fresh salt each time
    assert verify_password("correct horse battery", first)
    assert not verify_password("correct horse batterz", first)


@pytest.mark.parametrize("stored", ["", "plain", "md5$a$b$c$d$e", "scrypt$x$8$1$AA$AA"])
def test_a_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_a_signed_token_round_trips_until_it_expires() -> None:
    signer = TokenSigner("0123456789abcdef-secret")
    token = signer.issue("sam", "session", expires=T0 + 60, csrf="c")
    payload = signer.check(token, "session", now=T0)
    assert (payload["u"], payload["c"]) == ("sam", "c")
    with pytest.raises(AuthError, match="expired"):
        signer.check(token, "session", now=T0 + 60)


def test_a_token_of_another_kind_or_key_or_tampered_is_refused() -> None:
    signer = TokenSigner("0123456789abcdef-secret")
    token = signer.issue("sam", "session", expires=T0 + 60)
    with pytest.raises(AuthError):
        signer.check(token, "api", now=T0)
    with pytest.raises(AuthError):
        TokenSigner("another-secret-0123456789").check(token, "session", now=T0)
    _body, _, sig = token.partition(".")
    forged = TokenSigner("0123456789abcdef-secret").issue("admin", "session", expires=T0 + 60)
    with pytest.raises(AuthError):
        signer.check(forged.partition(".")[0] + "." + sig, "session", now=T0)
    with pytest.raises(AuthError):
        signer.check("garbage", "session", now=T0)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(AccountError):
        TokenSigner("short")


def test_a_supervisor_may_do_what_operations_may_but_not_the_reverse() -> None:
    assert Role.SUPERVISOR.allows(Role.OPERATIONS)
    assert Role.SUPERVISOR.allows(Role.SUPERVISOR)
    assert Role.OPERATIONS.allows(Role.OPERATIONS)
    assert not Role.OPERATIONS.allows(Role.SUPERVISOR)
