"""Stasis entry -> PlaybackStarted latency through a real Asterisk, real SIPp calls.

Starts a private Asterisk instance (free ports), the CRM bridge and the controller as real
`line311` processes, and an independent ARI observer subscribed to all events. For every
call, latency = arrival at the observer of PlaybackStarted (the greeting) minus arrival of
the channel's entry into Stasis() (its ChannelDialplan event; an observer app is not sent
another app's StasisStart, which Asterisk raises in the same instant): the controller's
reaction time (event in, answer + play out, first media frame started).
20 sequential calls, then 20 concurrent ones.

    python -m bench ari_latency
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from line311.asterisk.manager import AsteriskManager
from line311.config import Settings
from line311.sipp import start_caller
from tests.conftest import _test_settings, free_tcp_port
from tests.e2e.stack import AriObserver, Stack, stack_env, wait_until

CALLS = 20


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def _latencies(obs: TimedObserver) -> dict[str, float]:
    started: dict[str, float] = {}
    played: dict[str, float] = {}
    for event in obs.timed_snapshot():
        ev, at = event
        kind = ev.get("type")
        if kind == "ChannelDialplan" and ev.get("dialplan_app") == "Stasis":
            started.setdefault(ev["channel"]["id"], at)  # the channel enters Stasis(line311)
        elif kind == "PlaybackStarted":
            target = ev["playback"].get("target_uri", "")
            if target.startswith("channel:") and ev["playback"]["media_uri"].endswith("/greeting"):
                played.setdefault(target.split(":", 1)[1], at)
    return {c: (played[c] - started[c]) * 1000 for c in started if c in played}


class TimedObserver(AriObserver):
    """An observer that stamps every event with a monotonic arrival time."""

    def __init__(self, *args: str) -> None:
        self.stamped: list[tuple[dict[str, object], float]] = []
        super().__init__(*args)

    def record(self, message: str | bytes) -> None:
        self.stamped.append((json.loads(message), time.perf_counter()))

    def timed_snapshot(self) -> list[tuple[dict[str, object], float]]:
        return list(self.stamped)


def run() -> str:
    workdir = Path(tempfile.mkdtemp(prefix="line311-bench-"))
    settings = _test_settings(workdir / "state")
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    library = Settings().state_dir / "sounds"
    (workdir / "state" / "sounds").symlink_to(library, target_is_directory=True)
    manager = AsteriskManager(settings)
    manager.start(wait=30)
    http_port, crm_port = free_tcp_port(), free_tcp_port()
    env = stack_env(
        {
            "LINE311_STATE_DIR": str(settings.state_dir),
            "LINE311_ASTERISK_INSTANCE": settings.asterisk_instance,
            "LINE311_SIP_PORT": str(settings.sip_port),
            "LINE311_ARI_URL": settings.ari_url,
            "LINE311_ARI_PASSWORD": settings.ari_password.get_secret_value(),
            "LINE311_CALLER_HASH_KEY": settings.caller_hash_key.get_secret_value(),
            "LINE311_CRM_API_KEY": settings.crm_api_key.get_secret_value(),
            "LINE311_AGENT_PASSWORD": settings.agent_password.get_secret_value(),
        },
        workdir,
        http_port,
        crm_port,
    )
    env["LINE311_LOG_LEVEL"] = "WARNING"
    stack = Stack(env, workdir, http_port, crm_port)
    results: dict[str, list[float]] = {}
    try:
        stack.start()
        # warm-up call: the first call pays for cold caches (measured separately in asterisk-lab)
        for label, concurrent in (("warm-up", False), ("sequential", False), ("concurrent", True)):
            n = 1 if label == "warm-up" else CALLS
            obs = TimedObserver(
                settings.ari_url, settings.ari_user, settings.ari_password.get_secret_value()
            )
            try:
                callers = []
                for i in range(n):
                    caller = start_caller(
                        workdir / f"{label}-{i}", settings.sip_port, "311", hold_ms=20000
                    )
                    if concurrent:
                        callers.append(caller)
                    else:
                        caller.wait(60)
                for caller in callers:
                    caller.wait(60)
                wait_until(lambda o=obs, k=n: len(_latencies(o)) >= k, 20, f"{n} greetings")
                results[label] = list(_latencies(obs).values())
            finally:
                obs.close()
    finally:
        stack.stop()
        manager.stop()
        shutil.rmtree(manager.installation.host_path(manager.instance_dir), ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)

    rows = []
    for label in ("sequential", "concurrent"):
        values = results[label]
        rows.append(
            f"| {CALLS} {label} | {len(values)} | {statistics.median(values):.1f} | "
            f"{_quantile(values, 0.99):.1f} | {max(values):.1f} |"
        )
    return (
        "## ARI reaction: entry into Stasis → greeting PlaybackStarted (issue 2)\n\n"
        "Real Asterisk 22 (sid chroot), real SIPp callers (RTP speech), `line311 serve` as a\n"
        "subprocess; times are arrivals at an independent ARI observer (subscribeAll), in ms.\n"
        "The controller answers, then starts the greeting: two REST round trips.\n\n"
        "| calls | measured | median | p99 | max |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nCommand: `python -m bench ari_latency`"
    )
