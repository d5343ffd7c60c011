"""InMemoryHandoffs behaves like RedisHandoffs (tests/integration/live/test_handoffs_redis.py)."""

from __future__ import annotations

import pytest

from line311.live.errors import LiveStateError
from line311.live.handoffs import InMemoryHandoffs

PAYLOAD = {"enqueue": {"language": "en", "topic": "noise", "priority": 1}, "record": None}


async def test_given_a_hand_off_when_marked_taken_then_it_is_gone_and_taken() -> None:
    handoffs = InMemoryHandoffs()
    await handoffs.put("c1", PAYLOAD)
    await handoffs.put("c2", PAYLOAD)
    assert await handoffs.all() == {"c1": PAYLOAD, "c2": PAYLOAD}
    await handoffs.mark_taken("c1")
    await handoffs.drop("c2")
    assert (await handoffs.get("c1"), await handoffs.get("c2")) == (None, None)
    assert await handoffs.taken("c1")
    assert not await handoffs.taken("c2")


async def test_given_claims_of_two_apps_then_each_sees_its_own() -> None:
    handoffs = InMemoryHandoffs()
    await handoffs.claim("w1", "c1", 1.0)
    await handoffs.claim("w2", "c2", 2.0)
    await handoffs.unclaim("w1", "c2")
    await handoffs.unclaim("w3", "c1")
    assert (await handoffs.claimed("w1"), await handoffs.claimed("w2")) == ({"c1"}, {"c2"})
    await handoffs.unclaim("w1", "c1")
    assert await handoffs.claimed("w1") == set()


async def test_given_a_payload_or_stored_value_that_is_not_json_then_live_state_error() -> None:
    handoffs = InMemoryHandoffs()
    with pytest.raises(LiveStateError, match="not JSON"):
        await handoffs.put("c1", {"at": float("inf")})
    handoffs.payloads["c2"] = "{oops"
    with pytest.raises(LiveStateError, match="c2"):
        await handoffs.get("c2")
    handoffs.payloads["c2"] = "[]"
    with pytest.raises(LiveStateError, match="not a JSON object"):
        await handoffs.all()
