"""Capacity steps: one SIPp run at a fixed call rate against one number, and what it cost.

Shared by ``python -m bench capacity`` and ``tests/e2e/test_cpu_ratio.py``. A step runs one
``sipp`` process (``-r`` calls/s for ``seconds``, each caller hanging up after ``hold_ms``,
no RTP sent) against the product (``311``) or its dialplan twin (``3119``,
``asterisk_conf/extensions.conf``), and measures:

- calls ok / failed (SIPp's own statistics file);
- INVITE -> 200 per call (SIPp's response-time trace, ``rtd`` on the 200);
- CPU seconds (utime + stime from ``/proc/<pid>/stat``, descendants included) of every watched
  process, before the first INVITE and once the last call has ended.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from line311.sim.sipp import free_udp_port, render_caller

__all__ = [
    "TWIN_NUMBER",
    "StepResult",
    "cpu_seconds",
    "loadavg",
    "quantile",
    "rss_mib",
    "run_step",
    "scenario",
    "sipp_argv",
    "stat_counts",
]

PRODUCT_NUMBER = "311"
TWIN_NUMBER = "3119"
_TICK = os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def family(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    tree, out, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(tree.get(current, []))
    return out


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its live descendants, in MiB (0 for a gone process)."""
    total = 0
    for member in family(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])  # kB
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, in seconds (0 for a gone process)."""
    total = 0.0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)
    return total


def scenario(hold_ms: int) -> str:
    """The project's caller (``line311/sim/scenarios/caller.xml``) without RTP, hanging up
    after ``hold_ms`` unless the far end does first; a refused call fails (it ends on a
    timeout) instead of stopping the whole run."""
    xml = render_caller([], hold_ms)
    xml = xml.replace('<nop><action><exec play_pcap_audio="[pcap]"/></action></nop>', "")
    stop = '<nop><action><exec int_cmd="stop_now"/></action></nop>'
    if stop not in xml or "play_pcap_audio" in xml:
        raise RuntimeError("caller.xml changed: update tests.e2e.capacity.scenario()")
    return xml.replace(stop, '<recv request="NOTIFY" timeout="100"/>')


@dataclass
class StepResult:
    target: str
    number: str
    rate: float
    calls: int
    ok: int
    failed: int
    invite_ms: list[float]
    cpu: dict[str, float]  # CPU seconds spent during the step, per watched process
    load: tuple[float, float, float]
    stasis_ms: list[float] = field(default_factory=list)
    profile: str = ""  # py-spy summary of the controller during the step (bench only)
    served: dict[str, int] = field(default_factory=dict)
    """Calls each Asterisk counted during the step (``calls processed``; bench only)."""

    def cpu_per_call_ms(self, name: str) -> float:
        return 1000 * self.cpu[name] / max(1, self.calls)

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.ok == self.calls and quantile(self.invite_ms, 0.99) < 200


def stat_counts(path: Path) -> tuple[int, int]:
    """(successful, failed) calls from the last line of SIPp's ``-trace_stat`` file."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    header = lines[0].split(";")
    last = lines[-1].split(";")
    row = dict(zip(header, last, strict=False))
    return int(row["SuccessfulCall(C)"]), int(row["FailedCall(C)"])


def _response_times(workdir: Path) -> list[float]:
    out: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split(";")
            if len(parts) >= 3 and parts[0].strip().replace(".", "").isdigit():
                out.append(float(parts[1]))
    return out


def sipp_argv(
    workdir: Path, *, number: str, sip_port: int, rate: float, seconds: float, hold_ms: int
) -> list[str]:
    """The ``sipp`` command of one step (``rate`` calls/s for ``seconds`` to ``number``, each
    caller hanging up after ``hold_ms``); writes the scenario into ``workdir``."""
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed (apt-get install sip-tester)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "caller.xml").write_text(scenario(hold_ms))
    calls = max(1, round(rate * seconds))
    limit = int(rate * (hold_ms / 1000 + 5)) + 20
    return [
        sipp, f"127.0.0.1:{sip_port}",
        "-sf", str(workdir / "caller.xml"), "-s", number,
        "-i", "127.0.0.1", "-p", str(free_udp_port()),
        "-mi", "127.0.0.1", "-mp", str(free_udp_port(even=True)),
        "-r", f"{rate:g}", "-rp", "1000", "-m", str(calls), "-l", str(limit),
        "-key", "from_user", "2125550123",
        "-trace_stat", "-stf", str(workdir / "stat.csv"), "-fd", "1",
        "-trace_rtt", "-rtt_freq", "1",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        "-timeout", f"{int(seconds + hold_ms / 1000 + 90)}s", "-nostdin",
    ]  # fmt: skip


def run_step(
    workdir: Path,
    *,
    target: str,
    number: str,
    sip_port: int,
    rate: float,
    seconds: float,
    hold_ms: int,
    processes: dict[str, int],
    settle: float = 2.0,
    until: Callable[[], None] | None = None,
) -> StepResult:
    """``rate`` calls/s to ``number`` for ``seconds``; CPU of ``processes`` (name -> pid),
    read again once SIPp has ended, ``until`` has returned (a wait for the step's work to be
    done, e.g. its call records stored) and ``settle`` seconds more have passed."""
    calls = max(1, round(rate * seconds))
    argv = sipp_argv(
        workdir, number=number, sip_port=sip_port, rate=rate, seconds=seconds, hold_ms=hold_ms
    )
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    subprocess.run(
        argv,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=seconds + hold_ms / 1000 + 120,
    )
    if until is not None:
        until()
    time.sleep(settle)  # records written, channels destroyed
    after = {name: cpu_seconds(pid) for name, pid in processes.items()}
    ok, failed = stat_counts(workdir / "stat.csv")
    return StepResult(
        target=target,
        number=number,
        rate=rate,
        calls=calls,
        ok=ok,
        failed=failed,
        invite_ms=_response_times(workdir),
        cpu={name: after[name] - before[name] for name in processes},
        load=loadavg(),
    )
