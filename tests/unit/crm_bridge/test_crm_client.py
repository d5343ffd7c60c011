"""`CrmClient`: retries what may be transient, gives up clearly, never retries a refusal.

The bridge is played by an `httpx.MockTransport` answering from a script; the backoff
sleeps are recorded instead of slept.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from types import MappingProxyType

import httpx
import pytest

from line311.crm_bridge.client import CrmClient
from line311.crm_bridge.errors import CrmConflict, CrmRejected, CrmUnavailable

RECORD = {
    "call_id": "c-9",
    "dialed_number": "311",
    "started_at": datetime(2025, 1, 27, 14, 0, tzinfo=UTC),
    "ended_at": datetime(2025, 1, 27, 14, 2, tzinfo=UTC),
    "outcome": "self_served",
}

Step = int | type[Exception]


class Script:
    """Answers each request with the next status (or raises the next transport error)."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, int):
            return httpx.Response(
                step, json={"error_id": f"e{step}", "message": "", "details": None}
            )
        raise step("scripted failure", request=request)  # type: ignore[call-arg]


def client(script: Script, sleeps: list[float], attempts: int = 4) -> CrmClient:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return CrmClient(
        "http://bridge.test/",
        "k3y",
        attempts=attempts,
        backoff=0.25,
        max_backoff=1.0,
        transport=httpx.MockTransport(script),
        sleep=sleep,
        rng=random.Random(7),
    )


async def test_given_the_bridge_stores_the_call_then_one_request_with_the_key_and_iso_times() -> (
    None
):
    script, sleeps = Script(201), []
    async with client(script, sleeps) as crm:
        await crm.post_call(RECORD)

    (request,) = script.requests
    assert request.url == "http://bridge.test/v1/calls"
    assert request.headers["authorization"] == "Bearer k3y"
    assert json.loads(request.content)["started_at"] == "2025-01-27T14:00:00+00:00"
    assert sleeps == []


async def test_given_nested_times_tuples_and_mappings_then_the_body_is_what_the_stdlib_wrote() -> (
    None
):
    """The body is orjson's, with the JSON the stdlib encoder gave after ``isoformat()``."""
    leg = MappingProxyType({"at": datetime(2025, 1, 27, 14, 1, 2, 345678, tzinfo=UTC)})
    record = {**RECORD, "path": ("a", ["b", {"ñ": 1.5}]), "queue_leg": leg}
    script, sleeps = Script(201), []
    async with client(script, sleeps) as crm:
        await crm.post_call(record)

    (request,) = script.requests
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        **json.loads(json.dumps(RECORD, default=datetime.isoformat)),
        "path": ["a", ["b", {"ñ": 1.5}]],
        "queue_leg": {"at": "2025-01-27T14:01:02.345678+00:00"},
    }


async def test_given_a_repeat_answered_200_then_success() -> None:
    script, sleeps = Script(200), []
    async with client(script, sleeps) as crm:
        await crm.post_call(RECORD)  # an identical repeat: stored already, no error

    assert len(script.requests) == 1  # success: not retried
    assert script.steps == []
    assert sleeps == []


async def test_given_transient_failures_then_retried_with_bounded_backoff_until_stored() -> None:
    script, sleeps = Script(503, httpx.ConnectError, httpx.ReadTimeout, 201), []
    async with client(script, sleeps) as crm:
        await crm.post_call(RECORD)

    assert len(script.requests) == 4
    assert len(sleeps) == 3
    caps = [0.25, 0.5, 1.0]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


async def test_given_the_bridge_stays_down_then_crm_unavailable_after_all_attempts() -> None:
    script, sleeps = Script(*([httpx.ConnectError] * 3)), []
    async with client(script, sleeps, attempts=3) as crm:
        with pytest.raises(CrmUnavailable, match=r"after 3 tries.*ConnectError"):
            await crm.post_call(RECORD)
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [(409, CrmConflict), (401, CrmRejected), (422, CrmRejected), (413, CrmRejected)],
)
async def test_given_a_refusal_then_raised_at_once_without_retry(
    status: int, error: Callable[..., Exception]
) -> None:
    script, sleeps = Script(status), []
    async with client(script, sleeps) as crm:
        with pytest.raises(error) as info:  # type: ignore[call-overload]
            await crm.post_call(RECORD)
    assert len(script.requests) == 1
    assert info.value.status == status


async def test_get_call_returns_none_for_404_and_the_body_otherwise() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/known"):
            return httpx.Response(200, json={"call_id": "known"})
        return httpx.Response(404, json={"error_id": "call-not-found"})

    async with CrmClient("http://bridge.test", "k3y", transport=httpx.MockTransport(answer)) as crm:
        assert await crm.get_call("known") == {"call_id": "known"}
        assert await crm.get_call("unknown") is None


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        CrmClient("http://bridge.test", "k", attempts=0)
