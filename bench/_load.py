"""Long-running SIPp load against a bench stack, sampled while it runs (memory, soak).

`SippRun` starts one ``sipp`` in the background (the capacity bench's caller, no RTP);
`sample` reads the RSS of every watched process and how many channels Asterisk has.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._stack import BenchStack
from tests.e2e.capacity import rss_mib, sipp_argv, stat_counts


def processes(lab: BenchStack) -> dict[str, int]:
    """Asterisk and every line311 process of a bench stack: name -> pid."""
    return lab.processes()


@dataclass
class Sample:
    at: float  # seconds since the load started
    channels: int
    rss: dict[str, float]  # MiB per process


class SippRun:
    """``rate`` calls/s to ``number`` for ``seconds``, each held ``hold_ms``, in the background."""

    def __init__(
        self, lab: BenchStack, workdir: Path, *, number: str, rate: float, seconds: float,
        hold_ms: int,
    ) -> None:  # fmt: skip
        self.workdir = workdir
        self.calls = max(1, round(rate * seconds))
        argv = sipp_argv(
            workdir, number=number, sip_port=lab.settings.sip_port, rate=rate, seconds=seconds,
            hold_ms=hold_ms,
        )  # fmt: skip
        s = lab.settings
        self._http = httpx.Client(
            base_url=f"{s.ari_url}/ari",
            auth=(s.ari_user, s.ari_password.get_secret_value()),
            timeout=10.0,
            trust_env=False,
        )
        self.started = time.monotonic()
        self._proc = subprocess.Popen(
            argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def sample(self, pids: dict[str, int]) -> Sample:
        try:
            channels = len(self._http.get("/channels").json())
        except (httpx.HTTPError, ValueError):
            channels = -1
        rss = {name: rss_mib(pid) for name, pid in pids.items()}
        return Sample(time.monotonic() - self.started, channels, rss)

    def wait(self, timeout: float) -> tuple[int, int]:
        """Wait for SIPp to end; (ok, failed) calls."""
        try:
            self._proc.wait(timeout=timeout)
        finally:
            if self._proc.poll() is None:
                self._proc.terminate()
                self._proc.wait(timeout=10)
        return stat_counts(self.workdir / "stat.csv")

    def close(self) -> None:
        self._http.close()
