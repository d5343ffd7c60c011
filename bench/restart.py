"""How long callers wait for a killed controller: warm spare against cold start, in one run.

Two ``line311 run`` stacks side by side (the e2e harness, `tests.e2e.supervised`): one as
shipped (``warm_spares = true``), one with ``warm_spares = false``. Their controllers are
SIGKILLed in turn, warm, cold, warm, cold ..., each kill on an otherwise idle box (the other
stack waits, and the warm stack's next spare is ready first), and each time the bench measures
the seconds from the kill until the new controller's /health says ARI is connected: what a
caller in the IVR hears as silence, less the prompt's own replay. The backoff before a restart
is the shipped 0.5 s (``restart_reset_after`` is set to 3 s so that each kill counts as a
first failure again). It also reports each spare's resident memory.

    python -m bench restart                # 6 kills of each
    python -m bench restart --kills 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import start_supervised
from tests.e2e.supervised import Supervised
from tests.fixtures.polling import wait_until

SETTLE_S = 3.0
"""After a restart, and after a spare is ready, before the next kill."""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench restart")
    parser.add_argument("--kills", type=int, default=6, help="kills of each controller")
    return parser.parse_args(argv)


def rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def _kill(sup: Supervised, *, warm: bool) -> float:
    if warm:
        sup.wait_spare(within=120)
    time.sleep(SETTLE_S)
    return sup.kill_controller(back_within=60, warm=False).back_in


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    env = {"LINE311_RESTART_RESET_AFTER": "3"}
    backs: dict[str, list[float]] = {"warm": [], "cold": []}
    spare_rss: list[float] = []
    with tempfile.TemporaryDirectory(prefix="line311-bench-restart-") as tmp:
        root = Path(tmp)
        (root / "warm").mkdir()
        (root / "cold").mkdir()
        warm = start_supervised(root / "warm", extra_env=env)
        try:
            cold = start_supervised(
                root / "cold", extra_env={**env, "LINE311_WARM_SPARES": "false"}
            )
            try:
                for _ in range(args.kills):
                    spare = warm.wait_spare(within=120)
                    if (rss := rss_mib(spare)) is not None:
                        spare_rss.append(rss)
                    backs["warm"].append(_kill(warm, warm=True))
                    warm.wait_spare(within=120)  # its next spare's imports: not beside the cold
                    backs["cold"].append(_kill(cold, warm=False))
                    wait_until(cold.ari_up, 60, "the cold controller back")
                processes = warm.processes()
            finally:
                cold.close()
        finally:
            warm.close()
    spares = {name: p.get("spare") for name, p in processes.items() if p.get("spare")}
    lines = [
        "## Restart: warm spare against cold start (`python -m bench restart`)",
        "",
        f"Command: `python -m bench restart --kills {args.kills}`. Two `line311 run` stacks, "
        "controllers SIGKILLed in turn (warm, cold, ...) on an idle box; seconds from the kill "
        "to the new controller's /health with ARI connected (backoff 0.5 s included).",
        "",
        "| start | kills | median s | min s | max s |",
        "|---|---|---|---|---|",
    ]
    for label, values in backs.items():
        lines.append(
            f"| {label} | {len(values)} | {statistics.median(values):.2f} | "
            f"{min(values):.2f} | {max(values):.2f} |"
        )
    ratio = statistics.median(backs["warm"]) / statistics.median(backs["cold"])
    lines += [
        "",
        f"Warm / cold median: **{ratio:.2f}**. Spares waiting at the end: "
        f"{', '.join(sorted(spares)) or 'none'}; a controller's spare held "
        f"{statistics.median(spare_rss):.0f} MiB resident (median of {len(spare_rss)}).",
    ]
    return "\n".join(lines)
