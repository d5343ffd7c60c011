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

import statistics

from bench._stack import TimedObserver, bench_stack, quantile
from line311.sim.sipp import start_caller
from tests.e2e.stack import wait_until

CALLS = 20


def _latencies(obs: TimedObserver) -> dict[str, float]:
    started: dict[str, float] = {}
    played: dict[str, float] = {}
    for event in obs.timed_snapshot():
        ev, at = event
        kind = ev.get("type")
        if kind == "ChannelDialplan" and ev.get("dialplan_app") in ("Stasis", "StasisBroadcast"):
            # the channel enters Stasis(line311), or is offered to the IVR workers
            started.setdefault(ev["channel"]["id"], at)
        elif kind == "PlaybackStarted":
            target = ev["playback"].get("target_uri", "")
            if target.startswith("channel:") and ev["playback"]["media_uri"].endswith("/greeting"):
                played.setdefault(target.split(":", 1)[1], at)
    return {c: (played[c] - started[c]) * 1000 for c in started if c in played}


def run() -> str:
    results: dict[str, list[float]] = {}
    # rtp_ports: the size of the range of the tests' Asterisk settings
    with bench_stack(rtp_ports=98) as lab:
        settings, workdir = lab.settings, lab.workdir
        # warm-up call: the first call pays for cold caches (measured separately in asterisk-lab)
        for label, concurrent in (("warm-up", False), ("sequential", False), ("concurrent", True)):
            n = 1 if label == "warm-up" else CALLS
            obs = lab.observer()
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

    rows = []
    for label in ("sequential", "concurrent"):
        values = results[label]
        rows.append(
            f"| {CALLS} {label} | {len(values)} | {statistics.median(values):.1f} | "
            f"{quantile(values, 0.99):.1f} | {max(values):.1f} |"
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
