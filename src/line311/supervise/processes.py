"""The two kinds of process the supervisor keeps up (its thin async edges).

* `CommandProcess`: a command we run ourselves (``line311 serve``, ``line311 crm-bridge``, or any
  argv a test injects): a child in its own session, output appended to its log file, waited on
  directly, stopped by signalling its process group (SIGTERM, SIGKILL after the grace period).
  ``rolling``: it can be restarted without a gap (the controller): `twin` is a second
  instance of the same command, started beside it, which takes its work over.
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from line311.supervise.errors import StartError

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
    ) -> None:
        self.name = name
        self.rolling = rolling
        self.argv = list(argv)
        self.log_file = log_file
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The PID of the running command (None before `start` or once it is reaped)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def twin(self) -> CommandProcess:
        """A new, unstarted instance of the same command (for a rolling restart)."""
        return CommandProcess(
            self.name, self.argv, self.log_file, env=self.env, cwd=self.cwd, rolling=self.rolling
        )

    async def start(self) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.log_file.open("ab") as log:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,  # its own group: a stop reaches its children too
                )
        except OSError as exc:
            raise StartError(f"{self.name}: cannot run {self.argv[0]!r}: {exc}") from None
        return self._proc.pid

    async def wait(self) -> int | None:
        if self._proc is None:
            return None
        return await self._proc.wait()

    async def stop(self, grace: float) -> None:
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
