"""The two kinds of process the supervisor keeps up (its thin async edges).

* `CommandProcess`: a command we run ourselves (``line311 serve``, ``line311 crm-bridge``, or any
  argv a test injects): a child in its own session, output appended to its log file, waited on
  directly, stopped by signalling its process group (SIGTERM, SIGKILL after the grace period).
  ``rolling``: it can be restarted without a gap (the controller): `twin` is a second
  instance of the same command, started beside it, which takes its work over.
  ``spare``: it keeps a warm spare of itself (`line311.supervise.spare`), spawned
  ``spare_after`` seconds after each start, which the next `start` turns into the process in
  a few milliseconds instead of a cold start's seconds of imports.
* `DaemonProcess`: a server one of our managers runs (`AsteriskManager`, `RedisServer`): started
  and stopped through the manager, whose pid-file checks keep us from signalling a stranger;
  watched by polling its PID, as it is the manager's child, not ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from line311.supervise.errors import StartError
from line311.supervise.spare import GO, READY, SPARE_ENV

__all__ = ["CommandProcess", "DaemonManager", "DaemonProcess", "Process"]

logger = logging.getLogger(__name__)


class Process(Protocol):
    """One supervised process, as the supervisor drives it."""

    name: str
    log_file: Path

    async def start(self) -> int:
        """Start it; return its PID (raise `StartError` when it cannot start)."""
        ...

    async def wait(self) -> int | None:
        """Return when it has died: its exit status (negative: signal), None if unknown."""
        ...

    async def stop(self, grace: float) -> None:
        """SIGTERM, SIGKILL after ``grace`` seconds; return once it is gone."""
        ...


class CommandProcess:
    """A command run as our own child."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_file: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        rolling: bool = False,
        spare: bool = False,
        spare_after: float = 5.0,
        code_stamp: Callable[[], object] | None = None,
    ) -> None:
        self.name = name
        self.rolling = rolling
        self.spare = spare
        self.spare_after = spare_after
        self.code_stamp = code_stamp
        """What the code on disk looks like (`line311.supervise.spare.code_stamp`): a spare
        started before it changed is not taken over."""
        self.argv = list(argv)
        self.log_file = log_file
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.warm = False
        """The last `start` took over a spare (else it started cold)."""
        self.on_spare: Callable[[], None] | None = None
        """Called when a spare is ready (the supervisor rewrites its status file)."""
        self._proc: asyncio.subprocess.Process | None = None
        self._spare: asyncio.subprocess.Process | None = None
        self._spare_ready = False
        self._spare_stamp: object = None
        self._refill: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The PID of the running command (None before `start` or once it is reaped)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def spare_pid(self) -> int | None:
        """The PID of the waiting spare once it is ready (its imports done)."""
        spare = self._spare
        if spare is None or spare.returncode is not None or not self._spare_ready:
            return None
        return spare.pid

    def twin(self) -> CommandProcess:
        """A new, unstarted instance of the same command (for a rolling restart); it starts
        cold, with the code on disk now, and keeps spares of its own."""
        return CommandProcess(
            self.name,
            self.argv,
            self.log_file,
            env=self.env,
            cwd=self.cwd,
            rolling=self.rolling,
            spare=self.spare,
            spare_after=self.spare_after,
            code_stamp=self.code_stamp,
        )

    async def start(self) -> int:
        proc = await self._take_spare()
        self.warm = proc is not None
        if proc is None:
            proc = await self._spawn(spare=False)
        self._proc = proc
        if self.spare:  # `_take_spare` has cancelled any refill under way
            self._refill = asyncio.create_task(self._spawn_spare_later(), name=f"spare-{self.name}")
        return proc.pid

    async def _spawn(self, *, spare: bool) -> asyncio.subprocess.Process:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = self.env
        if spare:
            env = {**(os.environ if env is None else env), SPARE_ENV: "1"}
        try:
            with self.log_file.open("ab") as log:
                return await asyncio.create_subprocess_exec(
                    *self.argv,
                    stdin=asyncio.subprocess.PIPE if spare else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE if spare else log,
                    stderr=log if spare else asyncio.subprocess.STDOUT,
                    env=env,
                    cwd=self.cwd,
                    start_new_session=True,  # its own group: a stop reaches its children too
                )
        except OSError as exc:
            raise StartError(f"{self.name}: cannot run {self.argv[0]!r}: {exc}") from None

    async def _take_spare(self) -> asyncio.subprocess.Process | None:
        """Tell the waiting spare to go on; None when there is none alive to tell."""
        spare, self._spare = self._spare, None
        self._cancel_refill()
        if spare is None or spare.stdin is None:
            return None
        if spare.returncode is not None:
            logger.warning(
                "%s: its spare (pid %d) had left (exit %s)", self.name, spare.pid, spare.returncode
            )
            return None
        if self.code_stamp is not None and self.code_stamp() != self._spare_stamp:
            logger.warning(
                "%s: the code on disk changed since its spare (pid %d) started; starting cold",
                self.name, spare.pid,
            )  # fmt: skip
            await _kill_spare(spare)
            return None
        try:
            spare.stdin.write(GO)
            await spare.stdin.drain()
            spare.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            logger.warning("%s: its spare (pid %d) is gone", self.name, spare.pid)
            return None
        return spare

    async def _spawn_spare_later(self) -> None:
        """The next spare, ``spare_after`` seconds on: not beside a start, whose imports it
        would slow down."""
        await asyncio.sleep(self.spare_after)
        if self._spare is not None or self.pid is None:
            return
        stamp = self.code_stamp() if self.code_stamp is not None else None
        try:
            spare = await self._spawn(spare=True)
        except StartError as exc:
            logger.warning("%s: no spare (%s)", self.name, exc)
            return
        self._spare, self._spare_ready, self._spare_stamp = spare, False, stamp
        started = asyncio.get_running_loop().time()
        said = await spare.stdout.readline() if spare.stdout is not None else b""
        if said != READY:
            logger.warning("%s: spare pid %d left before it was ready", self.name, spare.pid)
        elif self._spare is spare:
            self._spare_ready = True
            logger.info(
                "%s: spare pid %d ready in %.1f s",
                self.name, spare.pid, asyncio.get_running_loop().time() - started,
            )  # fmt: skip
            if self.on_spare is not None:
                self.on_spare()

    def _cancel_refill(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            self._refill = None

    async def drop_spare(self) -> None:
        """Stop keeping a spare; the waiting one is stopped (it has done nothing yet)."""
        self._cancel_refill()
        spare, self._spare = self._spare, None
        if spare is not None:
            await _kill_spare(spare)

    async def wait(self) -> int | None:
        if self._proc is None:
            return None
        return await self._proc.wait()

    async def stop(self, grace: float) -> None:
        await self.drop_spare()
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            logger.warning(
                "%s (pid %d) ignored SIGTERM for %.0f s; killing it", self.name, proc.pid, grace
            )
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()


async def _kill_spare(spare: asyncio.subprocess.Process) -> None:
    """Stop a spare that has not been told to go (it has done nothing): no grace needed."""
    if spare.stdin is not None:
        spare.stdin.close()
    if spare.returncode is None:
        _signal_group(spare.pid, signal.SIGKILL)
    await spare.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


class DaemonManager(Protocol):
    """What `AsteriskManager` and `RedisServer` both offer (blocking calls)."""

    @property
    def log_file(self) -> Path: ...

    def start(self) -> int: ...

    def stop(self, *, timeout: float = ...) -> bool: ...

    def read_pid(self) -> int | None: ...


class DaemonProcess:
    """A server run by one of our managers, watched by PID."""

    def __init__(self, name: str, manager: DaemonManager, *, poll: float = 0.25) -> None:
        self.name = name
        self.manager = manager
        self.poll = poll
        self.log_file = manager.log_file

    async def start(self) -> int:
        from line311.errors import Line311Error

        def start() -> int:
            if self.manager.read_pid() is None:
                self.manager.stop()  # none runs: this only reaps a dead child of the manager
            return self.manager.start()  # idempotent: one already up is adopted

        try:
            return await asyncio.to_thread(start)
        except (Line311Error, OSError) as exc:  # a bad install, a taken port, a full disk
            raise StartError(f"{self.name}: {exc}") from None

    async def wait(self) -> int | None:
        # not our child: nothing to wait on but its PID (the manager checks it is still its own)
        while await asyncio.to_thread(self.manager.read_pid) is not None:  # noqa: ASYNC110
            await asyncio.sleep(self.poll)
        return None

    async def stop(self, grace: float) -> None:
        await asyncio.to_thread(self.manager.stop, timeout=grace)
