"""Foreign exceptions become AriErrors at one boundary; HTTP statuses pick the right class."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidHandshake, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from line311.ari.client import map_exceptions
from line311.ari.errors import (
    AriAuthError,
    AriBadRequest,
    AriConflict,
    AriError,
    AriHttpError,
    AriNotFound,
    AriProtocolError,
    AriServerError,
    AriTimeout,
    AriUnreachable,
    http_error_for_status,
)
from line311.errors import Line311Error


def test_every_ari_error_is_a_line311_error():
    assert issubclass(AriError, Line311Error)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AriBadRequest),
        (401, AriAuthError),
        (403, AriAuthError),
        (404, AriNotFound),
        (409, AriConflict),
        (500, AriServerError),
        (503, AriServerError),
        (422, AriHttpError),
    ],
)
def test_http_status_maps_to_the_most_specific_error(status: int, cls: type[AriHttpError]):
    err = http_error_for_status(status, "POST", "/channels/x/play/p", "Channel not found")
    assert type(err) is cls
    assert (err.status, err.method, err.path) == (status, "POST", "/channels/x/play/p")
    assert "HTTP" in str(err)
    assert "/channels/x/play/p" in str(err)


def test_http_error_body_is_bounded():
    assert len(http_error_for_status(500, "GET", "/x", "y" * 10_000).body) == 500


def _request() -> httpx.Request:
    return httpx.Request("GET", "http://127.0.0.1:1/ari/channels")


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("refused", request=_request()), AriUnreachable),
        (httpx.ReadError("reset", request=_request()), AriUnreachable),
        (httpx.RemoteProtocolError("garbage", request=_request()), AriUnreachable),
        (httpx.ConnectTimeout("slow", request=_request()), AriTimeout),
        (httpx.ReadTimeout("slow", request=_request()), AriTimeout),
        (httpx.DecodingError("bad gzip", request=_request()), AriProtocolError),
        (ConnectionRefusedError(111, "refused"), AriUnreachable),
        (TimeoutError(), AriTimeout),
        (ConnectionClosedError(Close(1011, "boom"), None), AriUnreachable),
        (InvalidHandshake("bad upgrade"), AriProtocolError),
        (json.JSONDecodeError("bad", "{", 0), AriProtocolError),
    ],
)
def test_foreign_exceptions_are_mapped(exc: Exception, cls: type[AriError]):
    with pytest.raises(cls) as info, map_exceptions("ARI GET /channels"):
        raise exc
    assert type(info.value) is cls
    assert info.value.__cause__ is exc
    assert str(info.value).startswith("ARI")


@pytest.mark.parametrize(("status", "cls"), [(401, AriAuthError), (503, AriServerError)])
def test_websocket_handshake_refusal_keeps_its_http_status(status: int, cls: type[AriError]):
    response = Response(status, "no", Headers(), b'{"message": "nope"}')
    with pytest.raises(cls), map_exceptions("ARI websocket"):
        raise InvalidStatus(response)


def test_ari_errors_pass_through_unchanged():
    original = AriNotFound(404, "GET", "/x")
    with pytest.raises(AriNotFound) as info, map_exceptions("ARI"):
        raise original
    assert info.value is original


def test_our_own_bugs_are_not_disguised_as_remote_errors():
    with pytest.raises(KeyError), map_exceptions("ARI"):
        raise KeyError("bug")


def test_error_ids_are_stable_machine_ids():
    assert AriUnreachable.error_id == "asterisk-unreachable"
    assert AriServerError.error_id == "asterisk-server-error"
