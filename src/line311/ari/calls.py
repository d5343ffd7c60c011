"""The runner's per-call bookkeeping and the transitional plug points (edge).

`Call` is what `line311.ari.runner.Runner` holds for one live call. `StasisHandler` is how a
StasisStart that no session kind accepts is handled (the CCR feature codes ``*71``..``*74``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from line311.ari.kinds import CallFacts, SessionKind
from line311.ari.translate import NewCall
from line311.call.ports import Session
from line311.logs import CallLogger, call_logger

__all__ = [
    "ARI_HANGUP_REASONS",
    "BroadcastHandler",
    "Call",
    "ClaimedChannels",
    "ReactionObserver",
    "StasisHandler",
    "StasisPlugs",
    "ari_hangup_reason",
    "outcome_value",
]

logger = logging.getLogger("line311.ari.runner")

ARI_HANGUP_REASONS = frozenset(
    {
        "normal",
        "busy",
        "congestion",
        "no_answer",
        "timeout",
        "rejected",
        "unallocated",
        "normal_unspecified",
        "number_incomplete",
        "codec_mismatch",
        "interworking",
        "failure",
        "answered_elsewhere",
    }
)
"""Values ARI's ``DELETE /channels/{id}?reason=`` accepts; any other session reason -> normal."""

StasisHandler = Callable[[NewCall, float], Awaitable[None]]
"""``handler(new_call, received_at)`` for a StasisStart no session kind accepts, by its first
Stasis argument (``outbound``, ``agent-feature``)."""
BroadcastHandler = Callable[[Mapping[str, Any]], Awaitable[None]]
"""An IVR worker's answer to ``CallBroadcast`` (claim the new call or let another take it)."""
ClaimedChannels = Callable[[], Awaitable[set[str]]]
"""The channels this process claimed from broadcasts: the only broadcast channels it takes
for its own at a re-sync (every worker's app matches the broadcast's filter)."""
ReactionObserver = Callable[[str, float], None]
"""``observer(operation, seconds)``: time from the ARI event (or timer) to the REST call done."""


def ari_hangup_reason(reason: str) -> str:
    """The ARI hang-up reason for a session's (descriptive) reason."""
    return reason if reason in ARI_HANGUP_REASONS else "normal"


def outcome_value(outcome: object) -> str:
    """A session's outcome (an enum, a string or None) as the record's string."""
    if outcome is None:
        return "failed"
    return str(getattr(outcome, "value", outcome))


@dataclass(eq=False, slots=True)
class Call:
    """One live call as the runner holds it."""

    kind: SessionKind
    session: Session
    facts: CallFacts
    log: CallLogger
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set after every step: the call's task reads the session's deadline again."""
    task: asyncio.Task[None] | None = None
    attached: set[str] = field(default_factory=set)
    """Channels other than the caller's whose events go to this call (`Runner.attach`)."""
    finished: bool = False
    released: bool = False
    """The channel is hung up or gone: nothing left to clean up in Asterisk."""
    handed_off: bool = False
    """A command handler took the channel over in the current step (e.g. ``Enqueue``)."""
    hand_over: tuple[str, object] | None = None
    """A handler answered `HandOver` in the current step: (kind, the command)."""

    @property
    def call_id(self) -> str:
        return self.facts.call_id

    @property
    def channel_id(self) -> str:
        return self.facts.channel_id


class StasisPlugs:
    """StasisStart handlers by first argument, for channels no session kind accepts."""

    def __init__(
        self,
        stasis_handlers: Mapping[str, StasisHandler] | None,
        hangup: Callable[[str], Awaitable[None]],
    ) -> None:
        self._stasis = dict(stasis_handlers or {})
        self._hangup = hangup

    async def stasis(self, new: NewCall, received_at: float) -> None:
        """A StasisStart no session kind accepts; with no handler for it: hung up."""
        handler = self._stasis.get(new.kind)
        if handler is not None:
            try:
                await handler(new, received_at)
            except Exception:
                logger.exception("StasisStart handler for %r failed; hanging up", new.kind)
                await self._hangup(new.channel_id)
        elif new.kind == "outbound":  # a referral leg (its edge waits for it) or a stray one
            logger.debug("StasisStart of our own outbound channel %s", new.channel_id)
        else:
            call_logger(logger, call_id=new.channel_id).warning(
                "no handler for Stasis calls of kind %r; hanging up", new.kind
            )
            await self._hangup(new.channel_id)
