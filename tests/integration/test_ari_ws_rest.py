"""ARI REST over websockets against a REAL Asterisk 22 (issue 13).

The client keeps a small pool of REST websockets once its event socket is up; typed calls,
ids with ``query_strings``, JSON bodies (channel variables on originate) and error statuses
all travel over the pool, while binary answers (a stored recording's file) stay on HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from line311.ari.client import AriClient
from line311.ari.errors import AriNotFound
from tests.conftest import AsteriskInstance
from tests.integration.test_ari_real import ari_for, until

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def ari(asterisk_instance: AsteriskInstance) -> AsyncIterator[AriClient]:
    async def ignore(event: dict[str, Any], received_at: float) -> None:
        return None

    async with ari_for(asterisk_instance, rest_transport="websocket", rest_sockets=2) as client:
        runner = asyncio.create_task(client.run(ignore))
        pool = client.rest_pool
        assert pool is not None
        await until(lambda: pool.up == 2)
        try:
            yield client
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


async def test_given_the_pool_is_up_when_rest_calls_are_made_then_they_travel_over_websockets(
    ari: AriClient,
):
    pool = ari.rest_pool
    assert pool is not None
    before = pool.sent
    bridge_id = f"b-{uuid.uuid4().hex[:8]}"

    info = await ari.asterisk_info()
    bridge = await ari.create_bridge(bridge_id, "mixing", name="ws rest")
    listed = [b.id for b in await ari.list_bridges()]
    with pytest.raises(AriNotFound):
        await ari.get_channel("no-such-channel")
    await ari.destroy_bridge(bridge_id)

    assert info.version.startswith("22.")
    assert (bridge.id, bridge_id in listed) == (bridge_id, True)
    assert pool.sent - before == 5
    # DELETE is answered before Asterisk drops the bridge from its list (it goes with its last
    # reference, later on a busy box): gone within a bounded wait
    async with asyncio.timeout(10):
        while bridge_id in [b.id for b in await ari.list_bridges()]:  # noqa: ASYNC110 - polling Asterisk
            await asyncio.sleep(0.05)


async def test_given_a_json_body_when_originating_over_the_pool_then_asterisk_takes_the_variables(
    ari: AriClient,
):
    channel_id = f"t-{uuid.uuid4().hex[:12]}"
    await ari.originate(
        "Local/3119@line311-carrier",
        channel_id,
        app_args=("outbound", "test"),
        variables={"LINE311_PROBE": "ws-rest"},
        dial_timeout=5,
    )
    try:
        value = await ari.get_channel_var(channel_id, "LINE311_PROBE")
    finally:
        with contextlib.suppress(AriNotFound):
            await ari.hangup(channel_id)
    assert value == "ws-rest"


async def test_given_many_requests_at_once_when_sent_over_two_sockets_then_each_gets_its_own_answer(
    ari: AriClient,
):
    ids = [f"b-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    bridges = await asyncio.gather(*(ari.create_bridge(i) for i in ids))
    await asyncio.gather(*(ari.destroy_bridge(i) for i in ids))
    assert [b.id for b in bridges] == ids
