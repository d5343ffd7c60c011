"""Webhook signatures and retry backoff of the outbox worker (pure functions)."""

from __future__ import annotations

import random

import pytest

from line311.crm_bridge.outbox import DeliveryPolicy, backoff_delay, sign, verify_signature

BODY = b'{"idempotency_key":"call:1","type":"call.finished"}'


def test_given_a_signed_body_when_verified_with_the_secret_then_it_is_accepted() -> None:
    signature = sign("s3cret", "1700000000", BODY)
    assert signature.startswith("v1=")
    assert verify_signature("s3cret", "1700000000", BODY, signature, now=1700000010)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("other", "1700000000", BODY, 1700000000),  # wrong secret
        ("s3cret", "1700000001", BODY, 1700000000),  # timestamp changed
        ("s3cret", "1700000000", BODY + b" ", 1700000000),  # body changed
        ("s3cret", "1700000000", BODY, 1700001000),  # too old: a replay
        ("s3cret", "not-a-number", BODY, 1700000000),
    ],
)
def test_given_anything_changed_when_verified_then_it_is_refused(
    secret: str, timestamp: str, body: bytes, now: float
) -> None:
    signature = sign("s3cret", "1700000000", BODY)
    assert not verify_signature(secret, timestamp, body, signature, now=now)


def test_given_attempts_when_backing_off_then_delays_double_within_jitter_up_to_the_cap() -> None:
    policy = DeliveryPolicy(base_delay=2.0, max_delay=60.0)
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
        for _ in range(50):
            delay = backoff_delay(attempt, policy, rng)
            assert ceiling / 2 <= delay <= ceiling


def test_the_lease_outlasts_a_batch_of_posts_bounded_by_the_timeout() -> None:
    policy = DeliveryPolicy(timeout=10.0)
    assert policy.lease.total_seconds() > 2 * policy.timeout
