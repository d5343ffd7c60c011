"""The supervisor behind ``line311 run``: keep a list of processes up, stop them in reverse.

Theory of operation: the processes start one after another in the order given (a daemon's
``start`` returns once it answers, so what comes later finds it ready). Each then gets a
watcher task: it waits for its process to die, tells the pure `ProcessPolicy`, sleeps until the
policy's deadline (the backoff) and starts it again. On ``stop`` every process is stopped in
reverse order, one at a time (SIGTERM, SIGKILL after ``grace``), each under its slot's lock so
a start in flight finishes before its stop. After every change the whole view is written to the
status file (`line311.supervise.status`), which ``line311 status`` reads.

Rolling restart (`request_roll`, SIGHUP to ``line311 run``, ``line311 restart controller``):
for each ``rolling`` process, a twin is started *beside* the running one and takes its slot
(the policy's `replaced`); the old one is then retired: it is expected to leave by itself once
the new one has taken its work over (a controller does on ``ApplicationReplaced``, when the
new one connects to ARI with the same application), and gets SIGTERM if it is still there
``takeover`` seconds later while the new one runs. Its exit is not a death: nothing restarts.

Why our own code and not a library: supervisor (4.3.0, August 2025) and circus (0.19.0,
February 2025) are both still maintained, but each runs as a daemon of its own with its own
config format and control socket (circus also needs ZeroMQ and tornado), so ``line311 run``
would have to generate their config and talk to them; and neither can keep a server that our
managers start (Asterisk, Redis, with their pid-file and /proc checks) up *through* those
managers. What we need -- start, wait, backoff, ordered stop, a JSON view -- is ~200 lines of
asyncio around a pure, property-tested policy. For production, docs/operations.md shows the
same processes under systemd instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from line311.supervise.errors import StartError
from line311.supervise.policy import (
    Backoff,
    Exited,
    ProcessPolicy,
    ProcessState,
    Started,
    StartFailed,
)
from line311.supervise.processes import CommandProcess, Process
from line311.supervise.status import write_status

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Slot:
    process: Process
    policy: ProcessPolicy
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    draining: list[Process] = field(default_factory=list)
    """Processes a rolling restart replaced that have not left yet."""
    swapped: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a rolling restart swaps ``process``: its watcher turns to the new one."""


class Supervisor:
    """Start ``processes`` in order, restart any that dies, stop them in reverse order."""

    def __init__(
        self,
        processes: Sequence[Process],
        status_file: Path,
        *,
        backoff: Backoff | None = None,
        grace: float = 10.0,
        takeover: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [p.name for p in processes]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique: {names}")
        self._slots = [_Slot(p, ProcessPolicy(p.name, backoff)) for p in processes]
        for p in processes:
            if isinstance(p, CommandProcess):
                p.on_spare = self._write
        self.status_file = status_file
        self.grace = grace
        self.takeover = takeover
        self._clock = clock
        self._stopping = asyncio.Event()
        self._rolls: asyncio.Queue[None] = asyncio.Queue()

    # ------------------------------------------------------------------ public
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; return once every process is stopped."""
        self._write()
        try:
            async with asyncio.TaskGroup() as tg:
                for slot in self._slots:
                    if stop.is_set():
                        break
                    async with slot.lock:
                        slot.policy.start()
                        await self._start(slot)
                    tg.create_task(self._watch(slot), name=f"watch-{slot.process.name}")
                roller = tg.create_task(self._serve_rolls(), name="rolling-restarts")
                await stop.wait()
                await self._stop_all(watched=True)
                roller.cancel()
        finally:
            if not self._stopping.is_set():  # our own failure: no child may outlive us
                logger.error("supervisor failing; stopping every process")
                await self._stop_all(watched=False)
            self._write()

    def request_roll(self) -> None:
        """Ask for a rolling restart of every ``rolling`` process (safe from a signal handler)."""
        self._rolls.put_nowait(None)

    async def roll(self, name: str) -> bool:
        """Restart ``name`` without a gap: start its twin, then retire the old process (see
        the module docstring). False when it cannot be done now (nothing changed)."""
        slot = next((s for s in self._slots if s.process.name == name), None)
        if slot is None:
            raise ValueError(f"no process named {name!r}")
        async with slot.lock:
            old = slot.process
            state = slot.policy.state
            if not isinstance(old, CommandProcess) or not old.rolling:
                logger.error("%s cannot be restarted rolling", name)
                return False
            if self._stopping.is_set() or state is not ProcessState.RUNNING or slot.draining:
                why = "a rolling restart is under way" if slot.draining else state.value
                logger.warning("rolling restart of %s not done now: %s", name, why)
                return False
            new = old.twin()
            new.on_spare = self._write
            try:
                pid = await new.start()
            except StartError as exc:
                logger.error("rolling restart of %s: %s; the running one goes on", name, exc)
                return False
            await old.drop_spare()  # it holds the old code: the twin keeps its own
            slot.process = new
            slot.swapped.set()
            slot.draining.append(old)
            slot.policy.replaced(pid, self._clock())
            logger.info(
                "rolling restart of %s: pid %d started beside pid %s (generation %d)",
                name, pid, old.pid, slot.policy.generation,
            )  # fmt: skip
            self._write()
        try:
            await self._retire(slot, old)
        finally:
            with contextlib.suppress(ValueError):
                slot.draining.remove(old)
            self._write()
        return True

    def view(self) -> list[dict[str, Any]]:
        """Each process as the status file shows it."""
        return [
            {
                **s.policy.to_dict(),
                "draining": [p.pid for p in s.draining if isinstance(p, CommandProcess) and p.pid],
                "rolling": isinstance(s.process, CommandProcess) and s.process.rolling,
                "spare": s.process.spare_pid if isinstance(s.process, CommandProcess) else None,
                "log_file": str(s.process.log_file),
            }
            for s in self._slots
        ]

    # ------------------------------------------------------------------ internals
    async def _start(self, slot: _Slot) -> None:
        name = slot.process.name
        try:
            pid = await slot.process.start()
        except StartError as exc:
            slot.policy.receive(StartFailed(str(exc)), self._clock())
            logger.error("%s did not start: %s; next try in %.1f s", name, exc, self._wait(slot))
        else:
            slot.policy.receive(Started(pid), self._clock())
            warm = isinstance(slot.process, CommandProcess) and slot.process.warm
            logger.info(
                "%s started%s, pid %d (restarts %d, log %s)",
                name, " from its warm spare" if warm else "", pid, slot.policy.restarts,
                slot.process.log_file,
            )  # fmt: skip
        self._write()

    async def _serve_rolls(self) -> None:
        while True:
            await self._rolls.get()
            for slot in self._slots:
                if isinstance(slot.process, CommandProcess) and slot.process.rolling:
                    await self.roll(slot.process.name)

    async def _retire(self, slot: _Slot, old: Process) -> None:
        """Wait for ``old`` (replaced) to leave by itself; SIGTERM it once its successor has
        run ``takeover`` seconds without dying (a successor that keeps failing, e.g. on a bad
        config, leaves the old one in charge)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(old.wait()), self.takeover)
                logger.info("%s: the replaced process has left", old.name)
                return
            if self._stopping.is_set():
                return  # the supervisor's stop stops it
            started = slot.policy.started_at
            if (
                slot.policy.state is ProcessState.RUNNING
                and started is not None
                and self._clock() - started >= self.takeover
            ):
                logger.warning(
                    "%s: the replaced process is still up %.0f s after its successor started;"
                    " stopping it", old.name, self.takeover,
                )  # fmt: skip
                await old.stop(self.grace)
                return

    async def _watch(self, slot: _Slot) -> None:
        while True:
            if slot.policy.state in (ProcessState.RUNNING, ProcessState.STOPPING):
                process = slot.process
                slot.swapped.clear()
                code, replaced = await self._wait_unless_swapped(slot, process)
                if replaced:
                    continue  # a rolling restart replaced it: watch its successor
                async with slot.lock:
                    if slot.process is not process:
                        continue
                    if slot.policy.stopped:
                        return  # the stop gave up waiting for us and counted the exit
                    stopping = slot.policy.state is ProcessState.STOPPING
                    slot.policy.receive(Exited(code), self._clock())
                    if not stopping:
                        logger.warning(
                            "%s %s (exit %s); restarting in %.1f s",
                            slot.process.name,
                            "stopped" if code == 0 else "died",  # 0: a graceful stop (SIGTERM)
                            code,
                            self._wait(slot),
                        )
                    self._write()
            deadline = slot.policy.next_deadline()
            if deadline is None:
                return
            with contextlib.suppress(TimeoutError):  # the backoff is over
                await asyncio.wait_for(self._stopping.wait(), max(0.0, deadline - self._clock()))
            async with slot.lock:
                if self._stopping.is_set():
                    slot.policy.stop()
                    self._write()
                    return
                if slot.policy.handle_timer(self._clock()):
                    await self._start(slot)

    @staticmethod
    async def _wait_unless_swapped(slot: _Slot, process: Process) -> tuple[int | None, bool]:
        """``process``'s exit status, or (None, True) once a rolling restart swapped it."""
        exited = asyncio.ensure_future(process.wait())
        swapped = asyncio.ensure_future(slot.swapped.wait())
        try:
            await asyncio.wait({exited, swapped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            swapped.cancel()
            if not exited.done():
                exited.cancel()
        if not exited.done() or exited.cancelled():
            return None, True
        return exited.result(), False

    async def _stop_all(self, *, watched: bool) -> None:
        """Stop every process, last first; ``watched``: their watchers still run."""
        self._stopping.set()
        for slot in reversed(self._slots):
            async with slot.lock:
                for old in list(slot.draining):  # replaced by a rolling restart, handing over
                    await old.stop(self.grace)
                if isinstance(slot.process, CommandProcess):
                    await slot.process.drop_spare()  # also when it is not running (backoff)
                if not slot.policy.stop():
                    self._write()
                    continue
                self._write()
                logger.info("stopping %s (pid %s)", slot.process.name, slot.policy.pid)
                await slot.process.stop(self.grace)
            # let its watcher see the exit before the next one is stopped (bounded: a
            # watcher that is gone must not hang the shutdown)
            for _ in range(200 if watched else 0):
                if slot.policy.state is not ProcessState.STOPPING:
                    break
                await asyncio.sleep(0.01)
            if slot.policy.state is ProcessState.STOPPING:
                slot.policy.receive(Exited(None), self._clock())
                self._write()

    def _wait(self, slot: _Slot) -> float:
        deadline = slot.policy.next_deadline()
        return 0.0 if deadline is None else max(0.0, deadline - self._clock())

    def _write(self) -> None:
        payload = {
            "supervisor_pid": os.getpid(),
            "updated_at": self._clock(),
            "processes": self.view(),
        }
        try:
            write_status(self.status_file, payload)
        except OSError as exc:  # the view is for people; the processes matter more
            logger.warning("cannot write %s: %s", self.status_file, exc)
