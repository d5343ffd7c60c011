"""What the runner does when its controller stops gracefully: hand every call over (edge).

A controller that gets SIGTERM, or whose ARI application a newer controller took over
(``ApplicationReplaced``: a rolling restart), calls `Handover.drain`::

    stop taking calls ──▶ for each held call: wait for its step in flight (its lock)
                                              save its state (unless replaced, see below)
                                              freeze it: no event or timer steps it again
                                              cancel its task
                      ──▶ forget every call; channels are left as they are

No channel is hung up, answered, moved or stopped: each stays in Stasis (Asterisk keeps
it while the application's socket is away, and a new socket of the same application gets
its events), the prompt it was hearing plays on, and the next controller resumes it from
the store (`line311.ari.reconcile`). A ``StasisStart`` that arrives while draining is left
alone for the same reason: the next controller finds the channel with no state and starts
its IVR (a defined outcome, never silence).

The runner saves a call's state after every step, so the state is only re-saved when this
controller is the last one driving the call (SIGTERM). After ``ApplicationReplaced`` the new
controller may already have resumed the call and saved a newer state, which a save from
here would overwrite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from line311.ari.calls import Call

__all__ = ["Handover"]

logger = logging.getLogger("line311.ari.runner")


class Handover:
    """The graceful-stop half of `line311.ari.runner.Runner` (which provides what is declared
    here)."""

    _calls: dict[str, Call]
    _channels: dict[str, Call]
    accepting: bool

    async def _save(self, call: Call) -> None:
        raise NotImplementedError

    async def drain(self, *, save: bool = True) -> int:
        """Stop taking calls and freeze every held call, its latest state stored; return how
        many calls were handed over. ``save``: save each state once more (False when another
        controller already drives the calls)."""
        self.accepting = False
        calls = list(self._calls.values())
        for call in calls:
            async with call.lock:  # the step in flight ends (and saves) first
                if call.finished:
                    continue
                if save:
                    await self._save(call)
                call.finished = True  # no event, timer or task steps it again
                call.wake.set()
            task = call.task
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        handed = [c for c in calls if c.call_id in self._calls]
        self._calls.clear()
        self._channels.clear()
        if handed:
            logger.info(
                "handed over %d call(s): left in Stasis, state stored for the next controller",
                len(handed),
            )
        return len(handed)
