"""Carrying out a queued call's ARI commands in order (edge of `line311.queue.leg`).

One `LegWorker` per call runs that call's command batches in order, so REST sequences on one
caller's media never interleave. Each command is carried out by its handler in
`line311.ari.queue_handlers` (shared by every call: it keeps the callback contacts); what a
handler answers is fed back to the leg, and after a critical failure (`stops_batch`) the rest
of the batch is dropped. A playback always ends in `PlaybackFinished`: the worker waits for
Asterisk's event (bounded by the command's ``max_wait``) in its own task, so the call's next
commands are not held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from line311.ari.port import AriPort
from line311.ari.queue_handlers import Contact, QueueHandlers, stops_batch
from line311.call.commands import Command, PlayPrompts
from line311.call.events import Event, PlaybackFinished

__all__ = ["Contact", "LegWorker"]

logger = logging.getLogger(__name__)

Feed = Callable[[str, Event], None]
"""``feed(call_id, event)``: hand an event back to the call's leg (synchronous)."""
Spawn = Callable[[Coroutine[Any, Any, None]], None]


class LegWorker:
    """Runs one call's command batches in order. See the module docstring."""

    def __init__(
        self,
        call_id: str,
        ari: AriPort,
        *,
        sounds_prefix: str,
        callback_dial: str,
        feed: Feed,
        spawn: Spawn,
        steps: QueueHandlers | None = None,
    ) -> None:
        self.call_id = call_id
        self._ari = ari
        self._steps = steps or QueueHandlers(
            ari, sounds_prefix=sounds_prefix, callback_dial=callback_dial
        )
        self._handlers = self._steps.handlers()
        self._feed = feed
        self._spawn = spawn
        self.submitted = 0
        self.batches: asyncio.Queue[list[Command] | None] = asyncio.Queue()
        self.done = 0
        """Batches carried out so far."""
        self._ran = asyncio.Event()

    @property
    def contact(self) -> Contact | None:
        """The resident's contact read for this call (memory only)."""
        return self._steps.contacts.get(self.call_id)

    def submit(self, batch: list[Command]) -> int:
        """Queue a batch; returns its number (see `wait_for`)."""
        self.batches.put_nowait(batch)
        self.submitted += 1
        return self.submitted

    async def wait_for(self, number: int) -> None:
        """Return once batch ``number`` has been carried out."""
        while self.done < number:
            self._ran.clear()
            await self._ran.wait()

    def close(self) -> None:
        """No more batches: the worker ends when it has run the ones queued."""
        self.batches.put_nowait(None)

    async def run(self, done: Callable[[], None]) -> None:
        """Run batches until `close`; ``done()`` after each one."""
        while True:
            batch = await self.batches.get()
            if batch is None:
                return
            try:
                for command in batch:
                    if not await self._execute(command):
                        break
            except Exception:
                logger.exception("call %s: queue command failed", self.call_id)
            finally:
                self.done += 1
                self._ran.set()
                done()

    # ------------------------------------------------------------------ commands
    async def _execute(self, command: Command) -> bool:
        """Carry ``command`` out; False when the rest of its batch must be dropped."""
        if isinstance(command, PlayPrompts):
            await self._play(command)
            return True
        handler = self._handlers.get(type(command))
        if handler is None:  # pragma: no cover - the leg emits router commands only to the runtime
            logger.error("call %s: no executor for %r", self.call_id, command)
            return True
        event = await handler(self.call_id, command)
        if event is not None:
            self._feed(self.call_id, event)
        return not stops_batch(command, event)

    async def _play(self, command: PlayPrompts) -> None:
        """Start the playback here (in order); wait for its end in another task."""
        expecting = self._ari.expect("PlaybackFinished", playback_id=command.playback_id)
        finished = await expecting.__aenter__()
        try:
            failure = await self._steps.play(self.call_id, command)
        except BaseException:
            await expecting.__aexit__(None, None, None)
            raise
        if failure is not None:
            await expecting.__aexit__(None, None, None)
            self._feed(self.call_id, failure)
            return
        self._spawn(self._await_playback(command, finished, expecting))

    async def _await_playback(
        self,
        command: PlayPrompts,
        finished: asyncio.Future[dict[str, Any]],
        expecting: contextlib.AbstractAsyncContextManager[Any],
    ) -> None:
        failed = False
        try:
            event = await asyncio.wait_for(finished, command.max_wait)
        except TimeoutError:
            logger.warning(
                "playback %s did not finish in %.0f s", command.playback_id, command.max_wait
            )
        else:
            failed = (event.get("playback") or {}).get("state") == "failed"
            if failed:
                logger.warning("playback %s failed (missing prompt?)", command.playback_id)
        finally:
            await expecting.__aexit__(None, None, None)
        self._feed(self.call_id, PlaybackFinished(command.playback_id, failed=failed))
