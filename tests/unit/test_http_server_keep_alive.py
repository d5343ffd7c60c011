"""Our HTTP servers keep an idle connection open longer than our clients reuse one."""

from __future__ import annotations

import httpx

from line311.http_server import KEEP_ALIVE_SECONDS, make_embedded_server


async def _app(scope: object, receive: object, send: object) -> None:  # never called
    raise AssertionError("not served")


def test_the_server_keeps_idle_connections_longer_than_httpx_clients_reuse_them() -> None:
    server = make_embedded_server(_app, "127.0.0.1", 0)
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    # a client never sends on a connection the server may be closing: a margin of seconds,
    # not a race at equal timeouts
    assert server.config.timeout_keep_alive == KEEP_ALIVE_SECONDS
    assert 2 * client_expiry <= KEEP_ALIVE_SECONDS
