"""``Controller``: the IVR-only way to build a `line311.ari.runner.Runner` (compatibility).

``Controller(client, session_factory, ...)`` is a runner whose one session kind is the IVR,
made by ``session_factory(call_id, dialed_number, now)``; a saved state resumes as a
`CallSession` on the built-in flow. New code builds a `Runner` with its kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from line311.ari.calls import ReactionObserver, StasisHandler
from line311.ari.calls import ari_hangup_reason as ari_hangup_reason
from line311.ari.ivr_kind import RecordSink, ivr_kind
from line311.ari.kinds import CommandHandler
from line311.ari.port import AriPort
from line311.ari.runner import Runner
from line311.call.ports import Clock, Session
from line311.call.store import SessionStore
from line311.ivr.session import CallSession

__all__ = [
    "CommandHandler",
    "Controller",
    "FunctionClock",
    "StasisHandler",
    "ari_hangup_reason",
]

SessionFactory = Callable[[str, str, float], Session]


class FunctionClock:
    """A `Clock` reading a function (e.g. ``loop.time`` in tests)."""

    __slots__ = ("_now",)

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def Controller(
    client: AriPort,
    session_factory: SessionFactory,
    *,
    sounds_uri_prefix: str,
    caller_hash_key: str,
    record_sink: RecordSink | None = None,
    clock: Clock | Callable[[], float] | None = None,
    store: SessionStore | None = None,
    observer: ReactionObserver | None = None,
    command_handlers: Mapping[type[Any], CommandHandler] | None = None,
    orphan_grace: float = 1.0,
    stasis_handlers: Mapping[str, StasisHandler] | None = None,
) -> Runner:
    kind = ivr_kind(
        lambda start: session_factory(start.call_id, start.dialed_number, start.now),
        lambda state, facts: CallSession.from_dict(state),
        record_sink=record_sink,
    )
    return Runner(
        client,
        [kind],
        sounds_uri_prefix=sounds_uri_prefix,
        caller_hash_key=caller_hash_key,
        clock=FunctionClock(clock) if callable(clock) else clock,
        store=store,
        observer=observer,
        command_handlers=command_handlers,
        orphan_grace=orphan_grace,
        stasis_handlers=stasis_handlers,
    )
