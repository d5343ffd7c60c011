"""`WsRestPool` against an in-process websocket server that plays Asterisk's part (issue 13).

Shows: requests carry method, uri, query_strings and a JSON body; answers are matched by
request_id even out of order; an Asterisk that ignores REST over websocket disables the pool
(callers then use HTTP); a socket lost mid-request fails that request as AriUnreachable and
the pool reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets.asyncio.server as ws_server

from line311.ari.errors import AriUnreachable
from line311.ari.ws_rest import WsRestPool

pytestmark = pytest.mark.integration


class FakeRestAsterisk:
    """Answers RESTRequests (``mode="answer"``), ignores them (``"ignore"``), or swallows
    every request but the probe (``"swallow"``) so a test can drop the sockets mid-request."""

    def __init__(self, mode: str = "answer") -> None:
        self.mode = mode
        self.requests: list[dict[str, Any]] = []
        self.connections: set[ws_server.ServerConnection] = set()
        self.server: ws_server.Server | None = None

    async def handler(self, ws: ws_server.ServerConnection) -> None:
        self.connections.add(ws)
        held: list[dict[str, Any]] = []
        try:
            async for raw in ws:
                request = json.loads(raw)
                if self.mode == "ignore":
                    continue
                if request["request_id"] != "probe":
                    self.requests.append(request)
                if self.mode == "swallow" and request["request_id"] != "probe":
                    continue
                held.append(request)
                if request["request_id"] == "probe" or len(held) == 2:
                    for r in reversed(held):  # answer out of order
                        await ws.send(json.dumps(self.response(r)))
                    held.clear()
        finally:
            self.connections.discard(ws)

    @staticmethod
    def response(request: dict[str, Any]) -> dict[str, Any]:
        echo = {"uri": request["uri"], "query": request.get("query_strings", [])}
        if "message_body" in request:
            echo["body"] = json.loads(request["message_body"])
        return {
            "type": "RESTResponse",
            "request_id": request["request_id"],
            "status_code": 200,
            "message_body": json.dumps(echo),
        }

    @property
    def root(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeRestAsterisk]:
    server = FakeRestAsterisk(getattr(request, "param", "answer"))
    async with ws_server.serve(server.handler, "127.0.0.1", 0) as running:
        server.server = running
        yield server


def pool_for(fake: FakeRestAsterisk, size: int = 1) -> WsRestPool:
    return WsRestPool(fake.root, {}, "line311", size=size, request_timeout=2.0, probe_timeout=0.3)


async def until(predicate: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by the pool's tasks
            await asyncio.sleep(0.01)


async def test_given_two_requests_answered_out_of_order_then_each_gets_its_own_answer(
    fake: FakeRestAsterisk,
):
    pool = pool_for(fake)
    pool.start()
    try:
        await until(lambda: pool.up == 1)
        first, second = await asyncio.gather(
            pool.request("POST", "/channels/c1/play/p1", {"media": "sound:x"}, None),
            pool.request(
                "POST", "/channels/c2", {"endpoint": "Local/1"}, {"variables": {"A": "b"}}
            ),
        )
    finally:
        await pool.close()

    assert first is not None
    assert second is not None
    assert json.loads(first[1]) == {
        "uri": "channels/c1/play/p1", "query": [{"name": "media", "value": "sound:x"}]
    }  # fmt: skip
    assert json.loads(second[1])["body"] == {"variables": {"A": "b"}}
    assert [r["method"] for r in fake.requests] == ["POST", "POST"]


@pytest.mark.parametrize("fake", ["ignore"], indirect=True)
async def test_given_an_asterisk_without_rest_over_websocket_then_the_pool_gives_up_for_http(
    fake: FakeRestAsterisk,
):
    pool = pool_for(fake, size=2)
    pool.start()
    try:
        await until(lambda: pool.unsupported)
        answer = await pool.request("GET", "/asterisk/info", {}, None)
    finally:
        await pool.close()

    assert (pool.up, answer) == (0, None)


@pytest.mark.parametrize("fake", ["swallow"], indirect=True)
async def test_given_a_socket_lost_mid_request_then_it_fails_unreachable_and_the_pool_reconnects(
    fake: FakeRestAsterisk,
):
    pool = pool_for(fake)
    pool.start()
    try:
        await until(lambda: pool.up == 1)
        pending = asyncio.create_task(pool.request("POST", "/channels/c1/answer", {}, None))
        await until(lambda: len(fake.requests) == 1)
        for connection in list(fake.connections):
            await connection.close()
        with pytest.raises(AriUnreachable):
            await pending
        await until(lambda: pool.up == 1)
    finally:
        await pool.close()

    assert fake.requests[0]["uri"] == "channels/c1/answer"
