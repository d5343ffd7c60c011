"""Issue 12 points 1, 6 and 7 end to end, under ``line311 run`` on a real Asterisk and Redis.

A CCR logs in and pauses; redis-server is SIGKILLed while a caller is in the IVR. The caller
goes on (into the queue, where they give up: an abandon), /health says degraded and comes
back by itself, the supervisor restarted Redis. Then the controller is SIGKILLed: the CCR is
still logged in and paused with the same reason, the wallboard shows the same day figures,
and once resumed the CCR is offered, and answers, a new call.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from line311.ivr.flow import default_flow_path
from line311.sim.sipp import ON_CUE, start_agent, start_caller
from tests.e2e.stack import wait_until
from tests.e2e.supervised import Desk, Supervised, alive
from tests.e2e.zones import noon_zone

pytestmark = pytest.mark.asterisk

REDIS_DOWN_FOR = 6.0  # the supervisor's first restart delay: Redis stays away this long


def _today(snap: dict[str, Any], queue: str = "general") -> dict[str, Any]:
    return dict(next(q for q in snap["queues"] if q["name"] == queue)["today"])


def _ccr(snap: dict[str, Any], agent_id: str) -> dict[str, Any] | None:
    return next((a for a in snap["agents"] if a["id"] == agent_id), None)


def test_given_redis_then_the_controller_killed_when_calls_go_on_then_ccr_states_and_day_figures_survive(
    supervised_run: Callable[..., Supervised], tmp_path: Path
) -> None:
    # the shipped call flow, one ``general`` queue; Redis stays away REDIS_DOWN_FOR seconds
    sup = supervised_run(
        default_flow_path(),
        queue=True,
        extra_env={
            "LINE311_RESTART_BACKOFF_INITIAL": str(REDIS_DOWN_FOR),
            "LINE311_TIMEZONE": noon_zone(),  # "today" is the same day before and after
        },
    )
    stack, s = sup.stack, sup.settings
    try:
        desk = Desk(sup)
        desk.post("/agents/agent1/login")
        desk.post("/agents/agent1/pause?reason=training")
        live = redis.Redis(
            port=int(sup.run.env["LINE311_REDIS_PORT"]),
            password=s.redis_password.get_secret_value(),  # the run's (its secrets.toml)
            decode_responses=True,
        )
        wait_until(
            lambda: '"pause_reason":"training"' in (live.hget("line311:agents", "agent1") or ""),
            10,
            "the paused CCR's record in Redis",
        )

        # a caller in the IVR when Redis dies: English, then 0 (a CCR), waits 8 s, gives up
        caller = start_caller(
            tmp_path / "caller", s.sip_port, "311", dtmf=[(ON_CUE, "1"), (1_500, "0")],
            hold_ms=8_000,
        )  # fmt: skip
        wait_until(lambda: (stack.health() or {}).get("active_calls", 0) >= 1, 30, "the call")
        redis_pid = sup.processes()["redis"]["pid"]
        os.kill(redis_pid, signal.SIGKILL)
        wait_until(lambda: not alive(redis_pid), 5, "redis-server to die")
        # (the line's /health: the dashboard process may notice first; wait for the controller)
        down = wait_until(
            lambda: (
                (h := stack.health()) is not None
                and h["status"] == "degraded"
                and h["live_state"] == "down"
                and h
            ),
            5,
            "/health to say degraded",
        )
        assert down["live_state"] == "down"
        assert "unreachable" in down["degraded"]["live_state"]
        assert down["ari_connected"]
        metrics = httpx.get(f"http://127.0.0.1:{s.http_port}/metrics", timeout=5).text
        assert "line311_live_state_up 0.0" in metrics
        wait_until(
            lambda: (
                sup.processes()["redis"]["restarts"] == 1
                and sup.processes()["redis"]["state"] == "running"
            ),
            REDIS_DOWN_FOR + 20,
            "the supervisor to restart redis-server",
        )
        wait_until(
            lambda: (h := stack.health()) is not None and h["status"] == "ok",
            10,
            "/health to recover by itself",
        )
        assert (stack.health() or {})["live_state"] == "up"

        # the caller went on: into the queue (nobody free), then gave up after 8 s
        result = caller.wait(timeout=90)
        assert result.final_status == 200
        assert not result.remote_hung_up, "line311 hung up on the caller"
        wait_until(lambda: _today(desk.snapshot())["abandoned"] == 1, 15, "the abandon counted")
        events = [r.event for r in sup.queue_log()]
        assert "ENTERQUEUE" in events
        assert "ABANDON" in events
        before = desk.snapshot()
        wait_until(lambda: live.zcard(f"line311:facts:{before['day_start']:.0f}") > 0, 10, "facts")

        # the controller dies: the CCR and the day's figures are read back from Redis
        sup.kill_controller(back_within=REDIS_DOWN_FOR + 30)
        after = desk.snapshot()
        assert _today(after) == _today(before)
        assert after["ivr"]["left_today"] == before["ivr"]["left_today"] >= 1
        # the chart per interval as it was; an interval that began since (the restart may
        # cross a boundary) is new and empty
        was = {c["start"]: c["offered"] for c in before["chart"]}
        now = {c["start"]: c["offered"] for c in after["chart"]}
        assert {start: now.get(start) for start in was} == was
        assert all(offered == 0 for start, offered in now.items() if start not in was)
        ccr = _ccr(after, "agent1")
        assert ccr is not None
        assert (ccr["state"], ccr["reason"]) == ("paused", "training")
        agent = desk.agent("agent1")
        assert (agent["state"], agent["pause_reason"]) == ("paused", "training")
        assert sup.processes()["redis"]["restarts"] == 1  # Redis itself was not touched

        # and the CCR is offered a new call once back from training
        password = s.agent_password.get_secret_value()
        phone = start_agent(tmp_path / "agent1", s.sip_port, "agent1", password, talk_ms=2_000)
        try:
            desk.post("/agents/agent1/resume")
            second = start_caller(
                tmp_path / "second", s.sip_port, "311", dtmf=[(ON_CUE, "1"), (1_500, "0")],
                hold_ms=20_000,
            )  # fmt: skip
            wait_until(
                lambda: any(r.event == "CONNECT" and r.agent == "agent1" for r in sup.queue_log()),
                60,
                "the new call connected to agent1",
            )
            assert second.wait(timeout=60).final_status == 200
        finally:
            phone.stop()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
