"""`PromptCue` sends a cue again until the caller keys: a cue SIPp handled before its caller
reached the cue step (auto-answered) is not lost. Driven by ARI events given by hand, with
the cue's REST reads answered by an in-process transport and its NOTIFYs read on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Iterator

import httpx
import pytest

from line311.sim import cue as cue_module
from line311.sim.cue import RESEND_AFTER, RESEND_EVERY, RESEND_MAX, PromptCue


@pytest.fixture
def caller_socket() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.05)
    yield s
    s.close()


def _cue(call_id: str) -> PromptCue:
    """A PromptCue with no ARI socket: its events come from the test."""
    cue = PromptCue.__new__(PromptCue)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": call_id})

    cue._rest = httpx.Client(base_url="http://ari/ari", transport=httpx.MockTransport(answer))
    cue._suffixes = {"/language_option": "language_option"}
    cue._cued = {}
    cue._pending = {}
    cue.sent = deque(maxlen=1000)
    cue.resent = deque(maxlen=1000)
    cue._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cue._udp.bind(("127.0.0.1", 0))
    cue._closed = threading.Event()
    cue._ws = None
    cue._thread = threading.Thread(target=lambda: None)  # no ARI socket to read
    cue._thread.start()
    return cue


def _received(s: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(s.recv(4096).decode())
        except TimeoutError:
            return out


def _started(channel: str) -> dict[str, object]:
    return {
        "type": "PlaybackStarted",
        "playback": {"target_uri": f"channel:{channel}", "media_uri": "sound:en/language_option"},
    }


def test_given_a_cue_with_no_key_after_it_then_it_is_sent_again_until_the_caller_keys(
    caller_socket: socket.socket,
) -> None:
    port = caller_socket.getsockname()[1]
    call_id = f"cue{port}-1-99@127.0.0.1"
    cue = _cue(call_id)
    cue._on_event(_started("c7"))
    assert [m.split("\r\n", 1)[0] for m in _received(caller_socket)] == [
        f"NOTIFY sip:caller@127.0.0.1:{port} SIP/2.0"
    ]
    now = time.monotonic()
    cue._resend_due(now)  # not yet due
    assert _received(caller_socket) == []
    cue._resend_due(now + RESEND_AFTER + 0.01)
    cue._resend_due(now + RESEND_AFTER + RESEND_EVERY + 0.02)
    again = _received(caller_socket)
    assert len(again) == 2
    assert all(f"Call-ID: {call_id}\r\n" in m for m in again)
    assert list(cue.sent) == [call_id]
    assert list(cue.resent) == [call_id, call_id]

    cue._on_event({"type": "ChannelDtmfReceived", "channel": {"id": "c7"}, "digit": "1"})
    cue._resend_due(now + 60)
    assert _received(caller_socket) == []  # keyed: the cue was heard
    cue._on_event(_started("c7"))  # the same prompt again on that channel: cued once only
    assert _received(caller_socket) == []
    cue.close()


def test_given_a_caller_who_never_keys_then_the_cue_stops_after_the_most_resends(
    caller_socket: socket.socket,
) -> None:
    port = caller_socket.getsockname()[1]
    cue = _cue(f"cue{port}-1-99@127.0.0.1")
    cue._on_event(_started("c8"))
    now = time.monotonic()
    for k in range(RESEND_MAX + 5):
        cue._resend_due(now + RESEND_AFTER + k * RESEND_EVERY + 0.01)
    assert len(cue.resent) == RESEND_MAX
    assert cue._pending == {}
    cue.close()


def test_given_a_channel_gone_then_its_cue_is_not_sent_again(
    caller_socket: socket.socket,
) -> None:
    port = caller_socket.getsockname()[1]
    cue = _cue(f"cue{port}-1-99@127.0.0.1")
    cue._on_event(_started("c9"))
    cue._on_event({"type": "ChannelDestroyed", "channel": {"id": "c9"}})
    cue._resend_due(time.monotonic() + 60)
    assert list(cue.resent) == []
    assert cue_module.LANGUAGE_PROMPT == "language_option"
    cue.close()
