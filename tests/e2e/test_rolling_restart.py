"""Issue 12 point 5, end to end: a graceful stop and a rolling restart of the controller lose
no call (real Asterisk 22, Redis, SIPp callers, ``line311 run``).

* What Asterisk 22 does when a second socket registers the same ARI application (the
  mechanism of the rolling restart) is checked first, on the session's Asterisk.
* Then, on one ``line311 run``: (a) SIGTERM to the controller while callers are mid-IVR:
  it hands the calls over and exits 0, the supervisor starts it again, each caller hears
  their prompt again, keys on, and nobody gets a BYE; a new call right after is answered.
  (b) ``line311 restart controller`` while callers are mid-IVR, one waits in the queue (no
  CCR logged in) and a new call arrives during the swap: the new controller takes every call
  over, the old one leaves, nobody is lost; the waiting caller keeps their place and reaches
  the CCR who logs in after the swap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from line311.ivr.flow import default_flow_path
from line311.sim.sipp import ON_CUE, SippCaller, SippPhone, start_agent, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.stack import LINE311, AriObserver, wait_until
from tests.e2e.supervised import Desk, Supervised, alive

pytestmark = pytest.mark.asterisk


class _Socket:
    """One ARI event websocket of ``app`` (subscribeAll off, like the controller's)."""

    def __init__(self, instance: AsteriskInstance, app: str) -> None:
        user, password = instance.ari_user, instance.ari_password
        self.url = instance.ari_url.replace("http://", "ws://") + (
            f"/ari/events?app={app}&subscribeAll=false&api_key={user}:{password}"
        )
        self.events: list[dict[str, Any]] = []
        self._ws: Any = None
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        assert self._ready.wait(10), "the ARI websocket did not open"

    def _run(self) -> None:
        try:
            with connect(self.url, open_timeout=10) as ws:
                self._ws = ws
                self._ready.set()
                for message in ws:
                    self.events.append(json.loads(message))
        except Exception:  # closed by the test
            self._ready.set()

    def types(self) -> list[str]:
        return [e["type"] for e in list(self.events)]

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()


def test_asterisk_22_application_replaced_moves_the_events_of_channels_in_stasis_to_the_new_socket(
    asterisk_instance: AsteriskInstance,
) -> None:
    """What the rolling restart relies on: a second socket with the same application name
    takes it over (``ApplicationReplaced`` to the first, which stays open), channels in
    Stasis stay and their events go to the new socket, and closing the replaced socket does
    not deactivate the application for the new one."""
    app = f"line311-replace-{os.getpid()}"
    ari = asterisk_instance
    http = httpx.Client(
        base_url=f"{ari.ari_url}/ari", auth=(ari.ari_user, ari.ari_password), trust_env=False
    )
    first = _Socket(ari, app)
    second: _Socket | None = None
    try:
        # a channel in Stasis (the other half plays the dialplan twin's prompts)
        endpoint = {"endpoint": "Local/3119@line311-twin", "app": app}
        http.post("/channels", params={**endpoint, "channelId": f"{app}-a"}).raise_for_status()
        wait_until(lambda: "StasisStart" in first.types(), 10, "StasisStart on the first socket")
        second = _Socket(ari, app)
        wait_until(lambda: "ApplicationReplaced" in first.types(), 10, "ApplicationReplaced")
        http.post(
            f"/channels/{app}-a/play", params={"media": "tone:440", "playbackId": f"{app}-p1"}
        ).raise_for_status()
        wait_until(lambda: "PlaybackStarted" in second.types(), 10, "the new socket's events")
        assert "PlaybackStarted" not in first.types()
        first.close()
        # (tones play until stopped: stop the first before the next can start)
        http.delete(f"/playbacks/{app}-p1").raise_for_status()
        wait_until(lambda: "PlaybackFinished" in second.types(), 10, "events go on")
        http.post(
            f"/channels/{app}-a/play", params={"media": "tone:440", "playbackId": f"{app}-p2"}
        ).raise_for_status()
        wait_until(lambda: second.types().count("PlaybackStarted") == 2, 10, "and on")
        http.post("/channels", params={**endpoint, "channelId": f"{app}-b"}).raise_for_status()
        wait_until(lambda: "StasisStart" in second.types(), 10, "a new call reaches the new one")
        channels = {c["id"] for c in http.get("/channels").json()}
        assert {f"{app}-a", f"{app}-b"} <= channels
    finally:
        first.close()
        if second is not None:
            second.close()
        for channel in (f"{app}-a", f"{app}-b"):
            http.delete(f"/channels/{channel}")
        http.close()


# ---------------------------------------------------------------------- on `line311 run`
class Callers:
    """SIPp callers, each with its own caller number, and their channels as ARI shows them."""

    def __init__(self, sup: Supervised, obs: AriObserver, workdir: Path) -> None:
        self.sup, self.obs, self.workdir = sup, obs, workdir
        self.callers: dict[str, SippCaller] = {}

    def call(self, label: str, number: str) -> None:
        """A caller who keys 1 (English) 15 s into the call and hangs up 6 s later: no BYE
        from us is expected in that time."""
        self.callers[number] = start_caller(
            self.workdir / label,
            self.sup.settings.sip_port,
            "311",
            from_user=number,
            dtmf=[(15000, "1")],
            hold_ms=6000,
        )

    def queue(self, label: str, number: str) -> None:
        """A caller who keys 1 (English) then 0 (a representative) and waits in the queue,
        hanging up 30 s later (talking by then, if a CCR took the call)."""
        self.callers[number] = start_caller(
            self.workdir / label,
            self.sup.settings.sip_port,
            "311",
            from_user=number,
            dtmf=[(ON_CUE, "1"), (1_500, "0")],
            hold_ms=30_000,
        )

    def channel(self, number: str) -> str | None:
        """The caller's channel: the observer sees its channel events (not its StasisStart,
        which goes to line311's application only)."""
        for event in self.obs.snapshot():
            channel = event.get("channel") or {}
            if channel.get("caller", {}).get("number") == number and channel.get("id"):
                return str(channel["id"])
        return None

    def plays(self, number: str) -> int:
        """The playbacks line311 started on the caller's channel. A media list (the language
        menu's seven prompts) is one playback with a PlaybackStarted per prompt, and it plays
        on while no controller is there: only a new playback id is line311 acting."""
        channel = self.channel(number)
        return len(
            {
                e.get("playback", {}).get("id")
                for e in self.obs.snapshot()
                if e.get("type") == "PlaybackStarted"
                and channel is not None
                and e.get("playback", {}).get("target_uri") == f"channel:{channel}"
            }
        )

    def past_greeting(self, *numbers: str) -> None:
        """The greeting played and the language menu began."""
        wait_until(
            lambda: all(self.plays(n) >= 2 for n in numbers), 40, f"{numbers} past the greeting"
        )

    def finish(self) -> None:
        """Every caller completed their call: answered, and hung up by themselves."""
        for number, caller in self.callers.items():
            result = caller.wait(timeout=90)
            assert result.final_status == 200, (number, result.statuses)
            assert not result.remote_hung_up, f"caller {number} got a BYE"


def test_given_callers_mid_ivr_when_the_controller_gets_sigterm_and_then_a_rolling_restart_then_no_call_is_lost(
    supervised_run: Callable[..., Supervised], tmp_path: Path
) -> None:
    sup = supervised_run(default_flow_path(), queue=True)
    stack, s = sup.stack, sup.settings
    obs = sup.observer()
    callers = Callers(sup, obs, tmp_path / "sipp")
    phone: SippPhone | None = None
    try:
        known = {r["call_id"] for r in stack.calls()}

        # (a) SIGTERM: the controller hands over and exits 0; the supervisor starts it again
        callers.call("a1", "2125550101")
        callers.call("a2", "2125550102")
        callers.past_greeting("2125550101", "2125550102")
        before = sup.controller()
        plays = {n: callers.plays(n) for n in ("2125550101", "2125550102")}
        os.kill(before["pid"], signal.SIGTERM)
        sent_at = time.monotonic()
        wait_until(
            lambda: all(callers.plays(n) > k for n, k in plays.items()),
            10,
            "every caller's prompt again after SIGTERM",
        )
        replayed_in = time.monotonic() - sent_at
        wait_until(lambda: not alive(before["pid"]), 15, "the old controller to exit")
        after = sup.controller()
        assert after["pid"] != before["pid"]
        assert after["last_exit"] == 0, after  # a graceful stop, not a crash
        assert after["restarts"] == 1
        callers.call("a3", "2125550103")  # a new call right after is answered by the new one
        callers.queue("q", "2125550107")  # to wait in the queue during (b)
        callers.past_greeting("2125550103")

        # (b) rolling: the new controller starts first and takes the calls over
        password = s.agent_password.get_secret_value()
        phone = start_agent(tmp_path / "agent1", s.sip_port, "agent1", password, talk_ms=60_000)
        desk = Desk(sup)  # agent1's phone is registered, agent1 not logged in
        callers.call("b1", "2125550104")
        callers.call("b2", "2125550105")
        callers.past_greeting("2125550104", "2125550105")
        (waiting,) = wait_until(
            lambda: sup.queue_log_ids("ENTERQUEUE"), 20, "the queued caller in the queue"
        )
        before = sup.controller()
        restart = subprocess.Popen(
            [*LINE311, "restart", "controller", "--timeout", "60"],
            env=stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        callers.call("b3", "2125550106")  # arrives during the swap
        out, _ = restart.communicate(timeout=90)
        assert restart.returncode == 0, out
        after = sup.controller()
        assert after["pid"] != before["pid"]
        assert not alive(before["pid"])
        assert (after["generation"], after["rolled"]) == (before["generation"] + 1, 1)
        assert after["draining"] == []
        code, _status = sup.status()
        assert code == 0

        # the queued caller kept their place through the swap, and reaches the CCR who logs in
        assert callers.callers["2125550107"].proc.poll() is None, "the queued caller was let go"
        assert [r.event for r in sup.queue_log() if r.call_id == waiting] == ["ENTERQUEUE"]
        desk.post("/agents/agent1/login")
        wait_until(
            lambda: sup.queue_log_ids("CONNECT") == [waiting], 20, "the queued caller to agent1"
        )
        callers.past_greeting("2125550106")

        # nobody was lost: every caller finished their call, each has one complete record
        callers.finish()
        numbers = list(callers.callers)

        def records() -> list[dict[str, Any]] | None:
            new = [r for r in stack.calls() if r["call_id"] not in known]
            return new if len(new) >= len(numbers) else None

        recs = wait_until(records, 60, "a call record per caller", step=0.5)
        assert len({r["call_id"] for r in recs}) == len(numbers)
        assert all(r["outcome"] != "failed" for r in recs), recs
        assert all(r["language"] == "en" for r in recs), recs  # every key 1 counted
        (queued,) = [r for r in recs if r["call_id"] == waiting]
        leg = queued["queue_leg"]
        assert (queued["outcome"], leg["end"], leg["agent_id"]) == ("handled", "answered", "agent1")
        assert replayed_in <= 10.0
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        for caller in callers.callers.values():
            caller.kill()
        if phone is not None:
            phone.stop()
        obs.close()
