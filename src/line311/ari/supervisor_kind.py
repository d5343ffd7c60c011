"""The supervisor phone line as a session kind of the runner (edge).

A CCR phone dialling the supervisor feature code reaches ``Stasis(line311,agent-feature,*80)``;
the runner (`line311.ari.runner.Runner`) starts a `SupervisorSession` for it and drives it like
every other call::

    kind = supervisor_kind(ari, alert_service, clock=clock, max_failures=..., ...)
    runner = Runner(ari, [ivr_kind, kind], ...)

The generic commands (answer, play, record, stop recording, play a recording back, hang up)
are the runner's (`line311.ari.executor`); the supervisor line's own (`CheckPin`,
`CheckAudio`, `SubmitAlert`) are `line311.ari.supervisor_steps`. The runner saves the
session's `to_dict` in its session store after every step and resumes a stored call after a
restart (`SupervisorSession.from_dict`; the channel is not answered again). When the call is
over the stored recordings it made are deleted; a call left running on shutdown keeps them
(its state stays stored for the next process).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from line311.ari.kinds import CallFacts, CallStart, Ended, SessionKind
from line311.ari.port import AriPort
from line311.ari.supervisor_steps import SupervisorSteps
from line311.ari.translate import NewCall
from line311.call.ports import Clock
from line311.messaging.alert_service import AlertService
from line311.messaging.phone import SupervisorSession

__all__ = ["KIND_NAME", "SUPERVISOR_FEATURE_CODE", "line_of", "supervisor_kind"]

logger = logging.getLogger(__name__)

SUPERVISOR_FEATURE_CODE = "*80"
KIND_NAME = "supervisor"
"""The kind's name in the runner's registry (and its session store)."""


def line_of(channel_name: str) -> str:
    """The calling endpoint of a channel: ``PJSIP/agent3-0000001a`` -> ``PJSIP/agent3``, so
    failed sign-ins count per phone across calls."""
    if channel_name.startswith("PJSIP/") and "-" in channel_name:
        return channel_name.rsplit("-", 1)[0]
    return channel_name


def accepts(new: NewCall) -> bool:
    """An ``agent-feature`` channel with the supervisor feature code."""
    return new.kind == "agent-feature" and new.args[:1] == (SUPERVISOR_FEATURE_CODE,)


def supervisor_kind(
    ari: AriPort,
    service: AlertService,
    *,
    clock: Clock,
    max_failures: int = 3,
    lockout_seconds: float = 900,
    max_record_seconds: int = 180,
) -> SessionKind:
    """The supervisor line's `SessionKind` (see the module docstring)."""
    steps = SupervisorSteps(
        ari, service, max_failures=max_failures, lockout_seconds=lockout_seconds, clock=clock
    )

    def start(call: CallStart) -> SupervisorSession:
        return SupervisorSession(
            call.call_id,
            call.now,
            line=line_of(call.channel_name or call.channel_id),
            max_failures=max_failures,
            max_record_seconds=max_record_seconds,
        )

    def resume(state: Mapping[str, Any], facts: CallFacts) -> SupervisorSession:
        return SupervisorSession.from_dict(dict(state))

    async def ended(end: Ended) -> None:
        session = end.session
        if end.handed_over or not isinstance(session, SupervisorSession):
            return
        for name in session.recordings:
            with contextlib.suppress(Exception):
                await ari.delete_stored_recording(name)
        logger.info("supervisor line call ended: %s", _summary(session))

    return SessionKind(
        KIND_NAME,
        start=start,
        resume=resume,
        accepts=accepts,
        handlers=steps.handlers(),
        ended=ended,
    )


def _summary(session: SupervisorSession) -> dict[str, Any]:
    """What happened (for logs): never the PIN, nor the whole state."""
    state = session.to_dict()
    keys = ("call_id", "state", "username", "outcome", "alert_id", "takes", "failures")
    return {key: state[key] for key in keys}
