"""The restart policy of one supervised process: pure, events + ``now`` in, decisions out.

Theory of operation::

    STOPPED ──start()──▶ STARTING ──Started(pid)──▶ RUNNING ──Exited(code)──▶ BACKOFF
       ▲                    │ StartFailed                                        │ timer
       │                    └────────────────────────────▶ BACKOFF ◀─────────────┘ ─▶ STARTING
       └── Exited ◀── STOPPING ◀── stop() (RUNNING/STARTING);  stop() in BACKOFF ─▶ STOPPED

A rolling restart (`replaced`) swaps a RUNNING process for a new one started beside it
(the supervisor retires the old one): the state stays RUNNING, the PID and start time are
the new one's, and ``restarts`` and ``rolled`` count it. ``generation`` numbers every start.

A process that dies waits ``initial * factor**n`` seconds (capped at ``maximum``) before it is
started again, ``n`` being the number of failures in a row; a process that stayed up at least
``reset_after`` seconds before dying starts the count again at ``initial``. The policy reads no
clock and starts nothing: the supervisor (`line311.supervise.supervisor`) feeds it what
happened and does what `handle_timer` returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from line311.supervise.errors import SuperviseError

__all__ = [
    "Backoff",
    "Exited",
    "PolicyError",
    "ProcessPolicy",
    "ProcessState",
    "StartFailed",
    "StartProcess",
    "Started",
]


class ProcessState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a dead process waits before its next start."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    reset_after: float = 60.0
    """Seconds up after which a death counts as the first failure again."""

    def delay(self, failures: int) -> float:
        """The wait before the start that follows ``failures`` (>= 1) failures in a row."""
        exponent = min(max(failures - 1, 0), 64)  # 2**64 * 0.5 is far past any maximum
        return float(min(self.maximum, self.initial * self.factor**exponent))


# ---------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class Started:
    pid: int


@dataclass(frozen=True, slots=True)
class Exited:
    code: int | None
    """Exit status (negative: killed by that signal); None when unknown (a daemon)."""


@dataclass(frozen=True, slots=True)
class StartFailed:
    reason: str


Event = Started | Exited | StartFailed


# ---------------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class StartProcess:
    name: str


class PolicyError(SuperviseError):
    """An event the current state cannot take (a bug in the supervisor)."""


class ProcessPolicy:
    """What the supervisor knows and decides about one process."""

    def __init__(self, name: str, backoff: Backoff | None = None) -> None:
        self.name = name
        self.backoff = backoff or Backoff()
        self.state = ProcessState.STOPPED
        self.pid: int | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self.rolled = 0
        """Of ``restarts``, how many were rolling restarts (`replaced`)."""
        self.generation = 0
        """Starts so far, rolling ones included (1 for the first)."""
        self.last_exit: int | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.restart_at: float | None = None
        self._ever_started = False

    # ------------------------------------------------------------------ inputs
    def start(self) -> list[StartProcess]:
        """The first start (or a start after `stop`)."""
        if self.state is not ProcessState.STOPPED:
            raise PolicyError(f"{self.name}: start in state {self.state.value}")
        self.state = ProcessState.STARTING
        return [StartProcess(self.name)]

    def stop(self) -> bool:
        """Stop for good; True when a live process must be signalled."""
        if self.state in (ProcessState.RUNNING, ProcessState.STARTING):
            self.state = ProcessState.STOPPING
            return True
        if self.state is ProcessState.BACKOFF:
            self.state = ProcessState.STOPPED
            self.restart_at = None
        return False

    def receive(self, event: Event, now: float) -> None:
        if isinstance(event, Started):
            if self.state not in (ProcessState.STARTING, ProcessState.STOPPING):
                raise PolicyError(f"{self.name}: Started in state {self.state.value}")
            if self._ever_started:
                self.restarts += 1
            self._ever_started = True
            self.generation += 1
            self.pid = event.pid
            self.started_at = now
            self.last_error = None
            if self.state is ProcessState.STARTING:
                self.state = ProcessState.RUNNING
            return
        if self.state not in (
            ProcessState.RUNNING,
            ProcessState.STARTING,
            ProcessState.STOPPING,
        ):
            raise PolicyError(f"{self.name}: {type(event).__name__} in state {self.state.value}")
        if isinstance(event, Exited):
            up_for = now - self.started_at if self.started_at is not None else 0.0
            self.last_exit = event.code
        else:
            up_for = 0.0
            self.last_error = event.reason
        self.pid = None
        if self.state is ProcessState.STOPPING:
            self.state = ProcessState.STOPPED
            return
        if up_for >= self.backoff.reset_after:
            self.failures = 0
        self.failures += 1
        self.state = ProcessState.BACKOFF
        self.restart_at = now + self.backoff.delay(self.failures)

    def replaced(self, pid: int, now: float) -> None:
        """A rolling restart: ``pid`` (started beside the running one) takes its place."""
        if self.state is not ProcessState.RUNNING:
            raise PolicyError(f"{self.name}: replaced in state {self.state.value}")
        self.pid = pid
        self.started_at = now
        self.restarts += 1
        self.rolled += 1
        self.generation += 1
        self.last_error = None

    @property
    def stopped(self) -> bool:
        """Stopped for good (by `stop`): nothing more will start."""
        return self.state is ProcessState.STOPPED

    def next_deadline(self) -> float | None:
        return self.restart_at if self.state is ProcessState.BACKOFF else None

    def handle_timer(self, now: float) -> list[StartProcess]:
        if self.state is not ProcessState.BACKOFF or self.restart_at is None:
            return []
        if now < self.restart_at:
            return []
        self.state = ProcessState.STARTING
        self.restart_at = None
        return [StartProcess(self.name)]

    # ------------------------------------------------------------------ view
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "pid": self.pid,
            "started_at": self.started_at if self.state is ProcessState.RUNNING else None,
            "restarts": self.restarts,
            "rolled": self.rolled,
            "generation": self.generation,
            "last_exit": self.last_exit,
            "last_error": self.last_error,
            "restart_at": self.restart_at,
        }
