"""The runner's per-call bookkeeping and the transitional plug points (edge).

`Call` is what `line311.ari.runner.Runner` holds for one live call. `ChannelOwner` and
`StasisHandler` are how the queue runtime plugs in until it is a session kind of its own
(see `line311.ari.kinds`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from line311.ari.kinds import CallFacts, SessionKind
from line311.ari.translate import NewCall
from line311.call.events import Event
from line311.call.ports import Session
from line311.logs import CallLogger, call_logger

__all__ = [
    "ARI_HANGUP_REASONS",
    "Call",
    "ChannelOwner",
    "LegacyPlugs",
    "ReactionObserver",
    "StasisHandler",
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
ReactionObserver = Callable[[str, float], None]
"""``observer(operation, seconds)``: time from the ARI event (or timer) to the REST call done."""


class ChannelOwner(Protocol):
    """Something other than a session that handles channels (the queue runtime today)."""

    def owns(self, channel_id: str) -> bool: ...

    async def on_channel_event(self, channel_id: str, event: Event, received_at: float) -> None: ...

    def reconcile(self, listed: set[str]) -> None:
        """After a (re)connect: ``listed`` are the channels Asterisk still has."""


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


class LegacyPlugs:
    """The queue runtime as it plugs in until it is a session kind: StasisStart handlers by
    first argument, channel owners."""

    def __init__(
        self,
        stasis_handlers: Mapping[str, StasisHandler] | None,
        channel_owners: Sequence[ChannelOwner],
        hangup: Callable[[str], Awaitable[None]],
    ) -> None:
        self._stasis = dict(stasis_handlers or {})
        self._owners = list(channel_owners)
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
        elif new.kind == "outbound":
            logger.debug("StasisStart of our own outbound channel %s", new.channel_id)
        else:
            call_logger(logger, call_id=new.channel_id).warning(
                "no handler for Stasis calls of kind %r; hanging up", new.kind
            )
            await self._hangup(new.channel_id)

    def owner_of(self, channel_id: str) -> ChannelOwner | None:
        return next((o for o in self._owners if o.owns(channel_id)), None)

    def reconcile(self, listed: set[str]) -> None:
        for owner in self._owners:
            try:
                owner.reconcile(listed)
            except Exception:
                logger.exception("channel owner %r failed to reconcile", owner)
