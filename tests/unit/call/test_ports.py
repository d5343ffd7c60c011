"""The ports every session and edge agree on: the one clock and the Session protocol."""

from __future__ import annotations

import time

from line311.call.ports import Clock, Session, SystemClock
from line311.ivr.flow import default_flow
from line311.ivr.session import CallSession


def test_the_system_clock_is_wall_clock_epoch_seconds() -> None:
    clock: Clock = SystemClock()
    before = time.time()
    now = clock.now()
    after = time.time()
    assert before <= now <= after


def test_the_ivr_call_session_is_a_session() -> None:
    session = CallSession("c1", "311", 0.0, flow=default_flow())
    assert isinstance(session, Session)


def test_something_without_the_session_methods_is_not_a_session() -> None:
    class Half:
        finished = False

        def receive(self, event: object, now: float) -> None:
            return None

    assert not isinstance(Half(), Session)
    assert not isinstance(object(), Session)
