"""Where a process's CPU goes: py-spy samples of one benchmark step, summed by library.

`Profiler` runs ``py-spy record --format raw`` (collapsed stacks, ``frame;frame;... count``)
against a pid for a fixed duration; `summarise` turns the stacks into inclusive shares (a
sample counts once for every group that has a frame anywhere on its stack) of the groups
below, plus the top self frames. ``--idle`` is left out, so samples are CPU time, not waits.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("httpx / httpcore / h11 (REST over HTTP: Asterisk, CRM)", ("httpx/", "httpcore/", "h11/")),
    ("websockets (ARI events, REST over websocket)", ("websockets/",)),
    ("uvicorn / starlette / fastapi / anyio", ("uvicorn/", "starlette/", "fastapi/", "anyio/")),
    ("asyncio / uvloop (loop, transports, selector)", ("asyncio/", "selectors.py", "uvloop/")),
    ("json / orjson", ("json/", "orjson")),
    ("logging", ("logging/",)),
    ("redis client", ("redis/",)),
    ("sqlalchemy / psycopg", ("sqlalchemy/", "psycopg/")),
    ("line311 ARI edge (ari/)", ("line311/ari/",)),
    ("line311 pure core (call/ ivr/ routing/ queue/)", (
        "line311/call/", "line311/ivr/", "line311/routing/", "line311/queue/",
    )),
    ("line311 records: spool + CRM client (crm_bridge/)", ("line311/crm_bridge/",)),
    ("line311 dashboard / live", ("line311/dashboard/", "line311/live/")),
)  # fmt: skip
"""Library groups, matched against the start of a frame's file (or ``/`` + it)."""


class Profiler:
    """``py-spy record`` of ``pid`` for ``seconds``, into ``out`` (raw collapsed stacks)."""

    def __init__(self, pid: int, seconds: float, out: Path, rate: int = 200) -> None:
        venv_bin = str(Path(sys.executable).parent)
        exe = shutil.which("py-spy") or shutil.which("py-spy", path=venv_bin)
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self._proc = subprocess.Popen(
            [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate),
             "-f", "raw", "-o", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def wait(self) -> Path:
        self._proc.wait(timeout=120)
        return self.out


def _stacks(path: Path) -> list[tuple[list[str], int]]:
    out: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def summarise(path: Path, top: int = 12) -> str:
    """A markdown table of inclusive shares per group and the hottest self frames."""
    stacks = _stacks(path)
    total = sum(n for _, n in stacks)
    if total == 0:
        return "_no samples_"
    groups: Counter[str] = Counter()
    own: Counter[str] = Counter()
    selves: Counter[str] = Counter()
    for frames, n in stacks:
        for name, needles in GROUPS:
            if any(_in(frame, needles) for frame in frames):
                groups[name] += n
            if _in(frames[-1], needles):
                own[name] += n
        selves[frames[-1]] += n
    rows = ["| where | inclusive | self |", "|---|---|---|"]
    rows += [
        f"| {name} | {100 * groups[name] / total:.1f}% | {100 * own[name] / total:.1f}% |"
        for name, _ in GROUPS
    ]
    rows += ["", "| hottest frames (self) | share |", "|---|---|"]
    rows += [
        f"| `{frame.split(' (')[0]}` ({_short(frame)}) | {100 * n / total:.1f}% |"
        for frame, n in selves.most_common(top)
    ]
    return f"{total} samples\n\n" + "\n".join(rows)


def _in(frame: str, needles: tuple[str, ...]) -> bool:
    where = frame.partition(" (")[2]
    return any(where.startswith(n) or "/" + n in where for n in needles)


def _short(frame: str) -> str:
    where = frame.partition(" (")[2].rstrip(")")
    for marker in ("site-packages/", "lib/python3", "src/"):
        if marker in where:
            return where.split(marker, 1)[1]
    return where
