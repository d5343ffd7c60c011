"""The dashboard process's copy of the wallboard, kept from the controller's facts in Redis.

The controller publishes every wallboard fact to its hub, and its live journal copies each one
to Redis (`line311.live.journal`: the day's facts in sorted sets, and every fact on the
stream ``wallboard``, both in one MULTI). The follower here rebuilds the same `LiveState`:

1. `load`: one consistent cut of the day (the facts, and the stream's id at that instant),
   applied to a fresh state (the configured queues and CCR names first), which replaces the
   hub's: every open dashboard gets the day's figures;
2. `run`: from that id on, each streamed fact is published to the hub as it comes, exactly
   once, in the order the controller published them.

Redis away: `up` goes False with the reason (``/health``, ``line311_wallboard_live_state_up``),
the board keeps showing what it had, and once Redis answers the day is read back again from
scratch (what came meanwhile cannot be missed that way, whatever the stream kept).

A controller restart needs nothing here: the new one writes on to the same stream. Facts the
follower cannot apply (an anomaly the state refuses) are logged and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState
from line311.live.errors import LiveError

__all__ = ["WallboardFollower"]

logger = logging.getLogger(__name__)

_NOT_READ = "not read yet"


class _Restored(Protocol):
    @property
    def facts(self) -> list[Any]: ...

    @property
    def position(self) -> str: ...


class _Journal(Protocol):
    async def load(self, now: float) -> _Restored: ...

    async def follow(self, after: str) -> tuple[str, list[Any]]: ...


class WallboardFollower:
    """Keeps ``hub`` showing the controller's wallboard (see the module docstring).
    ``fresh()`` makes an empty state with what the configuration says (queues, CCR names)."""

    def __init__(
        self,
        journal: _Journal,
        hub: LiveHub,
        fresh: Callable[[], LiveState],
        *,
        clock: Callable[[], float] = time.time,
        retry_every: float = 1.0,
    ) -> None:
        self.journal = journal
        self.hub = hub
        self.fresh = fresh
        self.clock = clock
        self.retry_every = retry_every
        self.position: str | None = None
        """The stream id followed from; None: the day must be read back (again)."""
        self.up = False
        self.reason: str | None = _NOT_READ
        self.loads = 0
        self.facts = 0
        self.skipped = 0

    async def load(self) -> None:
        """Read the day back and show it (raises `LiveError`; nothing changes then)."""
        restored = await self.journal.load(self.clock())
        state = self.fresh()
        for fact in restored.facts:
            self._apply(state.apply, fact)
        self.hub.replace_state(state)
        self.position = restored.position
        self.loads += 1
        logger.info(
            "wallboard read back: %d facts, following the stream from %s",
            len(restored.facts),
            restored.position,
        )

    async def step(self) -> None:
        """Read the day back if needed, then take the next streamed facts (waiting a little
        for them); raises `LiveError` (the next step reads the day back)."""
        if self.position is None:
            await self.load()
            self._came_back()  # the board is current from here on
        assert self.position is not None
        try:
            position, facts = await self.journal.follow(self.position)
        except LiveError:
            self.position = None
            raise
        self.position = position
        for fact in facts:
            self._apply(self.hub.publish, fact)
        self.facts += len(facts)

    async def run(self) -> None:
        """`step` until cancelled, waiting ``retry_every`` after a failure."""
        while True:
            try:
                await self.step()
            except LiveError as exc:
                self._went_down(str(exc))
                await asyncio.sleep(self.retry_every)
                continue
            self._came_back()

    def _apply(self, apply: Callable[[Any], object], fact: Any) -> None:
        try:
            apply(fact)
        except Exception:  # one bad fact must not stop the board
            self.skipped += 1
            logger.exception("wallboard fact not applied: %r", fact)

    def _went_down(self, reason: str) -> None:
        if self.up or self.reason == _NOT_READ:  # once per outage, and the first failure
            logger.warning(
                "wallboard: the live state (Redis) is away (%s); showing what it had", reason
            )
        self.up = False
        self.reason = reason

    def _came_back(self) -> None:
        if not self.up and self.loads > 1:
            logger.info("wallboard: the live state is back; the day was read again")
        self.up = True
        self.reason = None
