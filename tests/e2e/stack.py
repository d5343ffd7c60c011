"""Run line311's own processes against the test Asterisk, and watch ARI independently.

`Stack` starts ``line311 crm-bridge`` and ``line311 serve`` as real subprocesses (the same
commands an operator runs), pointed by environment variables at the private Asterisk of the
test session. `AriObserver` is a second ARI application subscribed to *all* events, so tests
assert on what Asterisk really did (PlaybackFinished state ``done``, dialplan apps run),
independently of what the controller believes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from websockets.sync.client import connect

from tests.fixtures.polling import wait_until

__all__ = ["AriObserver", "Service", "Stack", "stack_env", "wait_until"]

LINE311 = [sys.executable, "-m", "line311"]


class Service:
    """One line311 subprocess, its output captured to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        fh = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            fh.close()

    def stop(self, timeout: float = 15.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Stack:
    """CRM bridge + controller subprocesses for one Asterisk test instance."""

    def __init__(self, env: dict[str, str], workdir: Path, http_port: int, crm_port: int) -> None:
        self.env = env
        self.workdir = workdir
        self.http_port = http_port
        self.crm_port = crm_port
        self.crm = Service("crm-bridge", [*LINE311, "crm-bridge"], env, workdir / "crm.log")
        self.controller = Service("controller", [*LINE311, "serve"], env, workdir / "serve.log")
        self._token: str | None = None

    def cli(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*LINE311, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            input=stdin,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"line311 {' '.join(args)} failed: {proc.stderr}{proc.stdout}")
        return proc

    def health(self) -> dict[str, Any] | None:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.http_port}/health", timeout=1.0)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None

    def crm_health(self) -> bool:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.crm_port}/health", timeout=1.0)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def start(self) -> None:
        """Migrate the database, then start the bridge and the controller side by side: the
        controller does not call the bridge until a call ends (its records wait in the spool
        until the bridge stores them), so neither waits for the other to answer."""
        self.cli("db", "upgrade")
        self.crm.start()
        self.controller.start()
        wait_until(self.crm_health, 30, "the CRM bridge /health")
        wait_until(self.health, 30, "the controller's /health with ARI connected")

    def start_controller(self) -> None:
        self.controller.start()
        wait_until(self.health, 30, "the controller's /health with ARI connected")

    def stop(self) -> None:
        self.controller.stop()
        self.crm.stop()

    def supervisor_token(self, username: str = "duty-supervisor") -> str:
        """A bearer token of a supervisor account (created on first use)."""
        if self._token is None:
            self.cli(
                "accounts", "create", username, "--role", "supervisor", "--password-stdin",
                stdin="correct horse battery staple\n",
            )  # fmt: skip
            self._token = self.cli("accounts", "token", username).stdout.strip().splitlines()[-1]
        return self._token

    def calls(self) -> list[dict[str, Any]]:
        out = self.cli("calls", "list", "--json").stdout
        data = json.loads(out)
        return list(data["calls"] if isinstance(data, dict) else data)

    def logs(self) -> str:
        return self.controller.output() + self.crm.output()


TEST_DEFAULTS = {"LINE311_QUEUE_PHONE_STATE": "false"}
"""Settings the end-to-end stacks change from the shipped ones unless a test asks otherwise:
many tests log a CCR in at the desk with no phone registered (the desk, the wallboard and the
restarts are what they test), which the shipped phone-state watch would rightly hold out
`phone-offline`; the queue tests (``test_queues.py``) run it as shipped."""


def stack_env(base: dict[str, str], workdir: Path, http_port: int, crm_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINE311_")}
    env.update(TEST_DEFAULTS)
    env.update(base)
    # a state directory of its own (queue_log, generated secrets, alert audio), sharing the
    # Asterisk instance's prompt library
    state = workdir / "state"
    state.mkdir(parents=True, exist_ok=True)
    shared_sounds = Path(base["LINE311_STATE_DIR"]) / "sounds"
    if not (state / "sounds").exists():
        (state / "sounds").symlink_to(shared_sounds.resolve(), target_is_directory=True)
    env.update(
        {
            "LINE311_STATE_DIR": str(state),
            "LINE311_HTTP_PORT": str(http_port),
            "LINE311_CRM_PORT": str(crm_port),
            "LINE311_DATABASE_URL": f"sqlite:///{workdir / 'line311.db'}",
            "LINE311_LOG_LEVEL": "DEBUG",
        }
    )
    return env


class AriObserver:
    """An ARI app subscribed to every event source; records events in a list."""

    def __init__(self, ari_url: str, user: str, password: str, app: str = "line311-observer"):
        ws_url = ari_url.replace("http://", "ws://") + (
            f"/ari/events?app={app}&subscribeAll=true&api_key={quote(user)}:{quote(password)}"
        )
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._url = ws_url
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ws: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise AssertionError(f"ARI observer could not connect: {self._error!r}")

    def _run(self) -> None:
        try:
            with connect(self._url, open_timeout=10) as ws:
                self._ws = ws
                self._ready.set()
                self._read()
        except Exception as exc:  # the socket closes when the test ends or Asterisk dies
            self._error = exc
            self._ready.set()

    def _read(self) -> None:
        for message in self._ws:
            self.record(message)

    def record(self, message: str | bytes) -> None:
        event = json.loads(message)
        with self._lock:
            self.events.append(event)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def find(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [e for e in self.snapshot() if predicate(e)]

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(timeout=5)
