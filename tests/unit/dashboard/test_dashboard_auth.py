"""Passwords, signed tokens and roles (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from line311.dashboard.auth import (
    SESSION_COOKIE,
    Authenticator,
    Role,
    SessionRenewal,
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


def test_a_session_token_carries_when_it_was_last_used_and_a_bearer_token_does_not() -> None:
    signer = TokenSigner("0123456789abcdef-secret")
    session = signer.issue("sam", "session", expires=T0 + 60, active=T0 + 0.7)
    assert signer.check(session, "session", now=T0)["a"] == int(T0)
    assert "a" not in signer.check(signer.issue("sam", "api", expires=T0 + 60), "api", now=T0)


def test_a_negative_idle_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="idle"):
        Authenticator(None, "0123456789abcdef-secret", idle_seconds=-1)  # type: ignore[arg-type]


async def _answer(app: Any, state: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "state": state}
    await SessionRenewal(app)(scope, receive, send)
    return list(sent[0]["headers"])


async def test_the_renewed_cookie_is_sent_unless_the_answer_sets_the_cookie_itself() -> None:
    renewed = f"{SESSION_COOKIE}=new; HttpOnly; Path=/; SameSite=strict"

    def app_setting(headers: list[tuple[bytes, bytes]]) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})

        return app

    plain = await _answer(app_setting([]), {"session_renewal": renewed})
    assert plain == [(b"set-cookie", renewed.encode())]
    own = [(b"set-cookie", f'{SESSION_COOKIE}=""; Max-Age=0; Path=/'.encode())]  # sign-out
    assert await _answer(app_setting(own), {"session_renewal": renewed}) == own
    assert await _answer(app_setting([]), {}) == []
