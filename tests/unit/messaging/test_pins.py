"""Supervisor PINs and the per-line lockout (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from line311.messaging.pins import (
    LineLock,
    after_failure,
    after_success,
    hash_pin,
    is_locked,
    verify_pin,
)


def test_given_a_pin_when_hashed_then_only_the_same_pin_verifies():
    stored = hash_pin("482913", rounds=1000)
    assert "482913" not in stored
    assert verify_pin("482913", stored)
    assert not verify_pin("482914", stored)
    assert not verify_pin("482913", "garbage")
    assert not verify_pin("482913", stored.replace("pbkdf2_sha256", "md5"))
    assert hash_pin("1234", rounds=1000) != hash_pin("1234", rounds=1000)  # salted


def test_given_three_failures_then_the_line_is_locked_for_the_configured_time():
    t0 = datetime(2025, 7, 4, 9, 0, tzinfo=UTC)
    lock = LineLock()
    for _ in range(2):
        lock = after_failure(lock, t0, 3, 900)
        assert not is_locked(lock, t0)
    lock = after_failure(lock, t0, 3, 900)
    assert is_locked(lock, t0 + timedelta(seconds=899))
    assert not is_locked(lock, t0 + timedelta(seconds=900))
    assert after_success(lock) == LineLock()
