"""Issue 12 point 3 end to end: under ``line311 run`` the dashboard is a process of its own.

On a real Asterisk, Redis and SIPp: the dashboard (``line311 dashboard`` on http_port) shows
the controller's figures, followed through Redis; what acts on CCRs is forwarded to the
controller. The wallboard keeps answering while the controller is SIGKILLed, a SIGKILLed
dashboard is restarted with the same day, and ``line311 restart dashboard`` swaps it without
a refused request.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.ivr.flow import default_flow_path
from line311.sim.sipp import ON_CUE, start_caller
from tests.e2e.stack import wait_until
from tests.e2e.supervised import Desk, Supervised, alive
from tests.e2e.zones import noon_zone

pytestmark = pytest.mark.asterisk


def _today(snap: dict[str, Any], queue: str = "general") -> dict[str, Any]:
    return dict(next(q for q in snap["queues"] if q["name"] == queue)["today"])


def _goal(snap: dict[str, Any], queue: str = "general") -> float:
    return float(next(q for q in snap["queues"] if q["name"] == queue)["goal"])


def _ccr(snap: dict[str, Any], agent_id: str) -> dict[str, Any] | None:
    return next((a for a in snap["agents"] if a["id"] == agent_id), None)


def _figures(snap: dict[str, Any]) -> dict[str, Any]:
    """What must be the same across restarts: today's queue figures, the goal, the CCR."""
    ccr = _ccr(snap, "agent1") or {}
    return {
        "today": _today(snap),
        "goal": _goal(snap),
        "ccr": (ccr.get("state"), ccr.get("reason")),
        "ivr_left": snap["ivr"]["left_today"],
    }


def test_given_line311_run_then_the_dashboard_is_its_own_process_and_outlives_controller_restarts(
    supervised_run: Callable[..., Supervised], tmp_path: Path
) -> None:
    sup = supervised_run(
        default_flow_path(),
        queue=True,
        extra_env={"LINE311_TIMEZONE": noon_zone()},  # "today" is one day throughout
    )
    s = sup.settings
    base = f"http://127.0.0.1:{s.http_port}"
    processes = sup.processes()
    assert list(processes)[-1] == "dashboard"
    assert processes["dashboard"]["state"] == "running"
    assert processes["dashboard"]["rolling"]
    health = httpx.get(base + "/health", timeout=5).json()
    assert health["ari_connected"]
    assert health["dashboard"]["live_state"] == "up"

    # actions go through the dashboard to the controller; the board shows their effect
    desk = Desk(sup)
    desk.post("/agents/agent1/login")
    desk.post("/agents/agent1/pause?reason=training")
    reply = httpx.post(
        base + "/api/queues/general/goal", json={"goal": 0.9}, headers=desk.headers, timeout=5
    )
    assert reply.status_code == 200, reply.text
    assert desk.agent("agent1")["state"] == "paused"  # the desk API is the controller's
    # a caller asks for a CCR (English, then 0), nobody is free, they give up after 8 s
    caller = start_caller(
        tmp_path / "caller", s.sip_port, "311", dtmf=[(ON_CUE, "1"), (1_500, "0")],
        hold_ms=8_000,
    )  # fmt: skip
    result = caller.wait(timeout=90)
    assert result.final_status == 200
    assert not result.remote_hung_up
    wait_until(lambda: _today(desk.snapshot())["abandoned"] == 1, 15, "the abandon on the board")
    wait_until(lambda: _goal(desk.snapshot()) == 0.9, 5, "the new goal on the board")
    before = _figures(desk.snapshot())
    assert before["ccr"] == ("paused", "training")
    assert before["today"]["offered"] == 1
    assert before["ivr_left"] >= 1

    # the controller dies: the board answers all along, with the same day
    served: list[int] = []
    done = threading.Event()

    def poll_board() -> None:
        with httpx.Client(base_url=base, headers=desk.headers, timeout=5) as http:
            while not done.is_set():
                served.append(http.get("/api/snapshot").status_code)
                done.wait(0.05)

    poller = threading.Thread(target=poll_board)
    poller.start()
    try:
        killed = sup.kill_controller(back_within=10)
    finally:
        done.set()
        poller.join()
    assert killed.back_in <= 10
    assert served, "the board was not asked"
    assert set(served) == {200}, served  # not one refused while the controller was away
    assert _figures(desk.snapshot()) == before
    desk.post("/agents/agent1/resume")  # forwarded to the new controller
    wait_until(lambda: _figures(desk.snapshot())["ccr"][0] == "available", 5, "the resume")
    desk.post("/agents/agent1/pause?reason=training")
    wait_until(lambda: _figures(desk.snapshot()) == before, 5, "the pause again")

    # the dashboard dies: the supervisor starts another, which reads the same day back
    pid = int(sup.processes()["dashboard"]["pid"])
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), 5, "the dashboard to die")
    wait_until(
        lambda: (p := sup.processes()["dashboard"])["restarts"] == 1 and p["state"] == "running",
        15,
        "the supervisor to restart the dashboard",
    )
    wait_until(lambda: sup.ari_up(), 15, "the new dashboard's /health")
    assert _figures(desk.snapshot()) == before

    # a rolling restart of the dashboard: a new process, the old one leaves by itself
    proc = sup.stack.cli("restart", "dashboard", "--timeout", "30", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = sup.processes()["dashboard"]
    assert after["pid"] not in (None, pid)
    assert after["draining"] == []
    assert _figures(desk.snapshot()) == before
    metrics = httpx.get(base + "/metrics", timeout=5).text
    assert "line311_wallboard_live_state_up 1.0" in metrics
    assert "line311_live_state_up 1.0" in metrics  # the controller's, through the dashboard
