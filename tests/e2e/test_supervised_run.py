"""Issue 12 point 3, end to end: ``line311 run`` supervises real processes on a real Asterisk.

The stack here is ``line311 run`` itself (not the test `Stack` of separate services): its own
Asterisk instance, its own Redis, CRM bridge and controller, on free ports and a state dir of
the test. The controller is killed with SIGKILL; the supervisor brings it back, /health answers
again within 5 s, ``line311 status`` shows the restart, and a new call is answered by it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.asterisk.manager import AsteriskManager
from line311.config import REPO_ROOT, Settings
from line311.ivr.flow import default_flow_path
from line311.queue.queue_log import parse_lines
from line311.sim.sipp import start_agent, start_caller
from tests.conftest import AsteriskInstance, _test_settings, free_tcp_port
from tests.e2e.conftest import general_queue_env, greeting_only_flow, record_for
from tests.e2e.stack import LINE311, AriObserver, Service, Stack, wait_until

pytestmark = pytest.mark.asterisk


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class Supervised:
    """``line311 run`` as a subprocess, with the test `Stack` helpers pointed at it."""

    def __init__(
        self, workdir: Path, flow: Path | None = None, extra_env: dict[str, str] | None = None
    ) -> None:
        state = workdir / "state"
        state.mkdir(parents=True)
        library = Settings().state_dir / "sounds"
        if not library.is_dir():
            library = REPO_ROOT / "var" / "sounds"
        (state / "sounds").symlink_to(library, target_is_directory=True)
        rtp = 40000 + (os.getpid() % 200) * 100  # clear of the session Asterisk's range
        settings = _test_settings(
            state,
            asterisk_instance=f"sup{os.getpid()}",
            rtp_port_start=rtp,
            rtp_port_end=rtp + 98,
        )
        self.settings = settings
        self.manager = AsteriskManager(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINE311_")}
        env.update(AsteriskInstance(settings, self.manager).env)
        env.update(
            {
                "LINE311_HTTP_PORT": str(settings.http_port),
                "LINE311_CRM_PORT": str(settings.crm_port),
                "LINE311_REDIS_PORT": str(free_tcp_port()),
                "LINE311_INTERPRETER_CONTACT": settings.interpreter_contact,
                "LINE311_AGENT_COUNT": str(settings.agent_count),
                "LINE311_DATABASE_URL": f"sqlite:///{workdir / 'line311.db'}",
                "LINE311_FLOW_FILE": str(flow or greeting_only_flow(workdir)),
                "LINE311_LOG_LEVEL": "DEBUG",
            }
        )
        env.update(extra_env or {})
        self.stack = Stack(env, workdir, settings.http_port, settings.crm_port)
        self.run = Service("run", [*LINE311, "run"], env, workdir / "run.log")

    def status(self) -> tuple[int, dict[str, Any]]:
        proc = self.stack.cli("status", "--json", check=False)
        return proc.returncode, json.loads(proc.stdout)

    def processes(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.status()[1]["processes"]}

    def logs(self) -> str:
        state = self.settings.state_dir
        parts = [self.run.output()]
        for name in ("controller.log", "crm-bridge.log"):
            path = state / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    sup = Supervised(tmp_path)
    sup.run.start()
    try:
        yield sup
    finally:
        sup.run.stop(timeout=60)
        sup.manager.stop()  # only if the supervisor left it (it stops Asterisk itself)
        shutil.rmtree(
            sup.manager.installation.host_path(sup.manager.instance_dir), ignore_errors=True
        )


def test_given_line311_run_when_the_controller_is_killed_then_it_is_back_within_5_s_and_answers_a_new_call(
    supervised: Supervised, tmp_path: Path
) -> None:
    stack = supervised.stack
    try:
        wait_until(
            lambda: (h := stack.health()) is not None and h["ari_connected"],
            120,
            "the supervised controller's /health with ARI connected",
        )
        wait_until(stack.crm_health, 30, "the supervised CRM bridge")
        wait_until(lambda: supervised.status()[0] == 0, 30, "`line311 status` all running")
    except AssertionError:
        raise AssertionError(supervised.logs()) from None
    before = supervised.processes()
    assert list(before) == ["asterisk", "redis", "crm-bridge", "controller"]
    assert all(p["restarts"] == 0 for p in before.values())
    old_pid = before["controller"]["pid"]

    os.kill(old_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: not _alive(old_pid), 5, "the controller to die")
    wait_until(
        lambda: (h := stack.health()) is not None and h["ari_connected"],
        5,
        "the restarted controller's /health with ARI connected",
    )
    back_in = time.monotonic() - killed_at
    assert back_in <= 5.0

    after = supervised.processes()
    assert after["controller"]["restarts"] == 1
    assert after["controller"]["pid"] not in (None, old_pid)
    assert after["controller"]["last_exit"] == -signal.SIGKILL
    assert all(after[n]["restarts"] == 0 for n in ("asterisk", "redis", "crm-bridge"))
    assert supervised.status()[0] == 0

    # a new call is answered by the new controller: it plays the greeting, hangs up, records it
    known = {r["call_id"] for r in stack.calls()}
    caller = start_caller(tmp_path / "sipp", supervised.settings.sip_port, "311", hold_ms=30000)
    result = caller.wait(timeout=60)
    assert result.final_status == 200
    assert result.remote_hung_up, "the controller should hang up after the greeting"
    rec = record_for(stack, "311", known, timeout=30)
    assert rec["outcome"] == "completed"

    # Ctrl-C: everything stops, in reverse order, and status says so
    pids = {n: p["pid"] for n, p in after.items()}
    assert supervised.run.stop(timeout=60) == 0
    assert not any(_alive(pid) for pid in pids.values() if pid), pids
    code, status = supervised.status()
    assert code == 1
    assert {p["state"] for p in status["processes"]} == {"stopped"}


@pytest.fixture
def supervised_ivr(tmp_path: Path) -> Iterator[Supervised]:
    """``line311 run`` with the shipped call flow (greeting, language menu, main menu)."""
    sup = Supervised(tmp_path, flow=default_flow_path())
    sup.run.start()
    try:
        yield sup
    finally:
        sup.run.stop(timeout=60)
        sup.manager.stop()
        shutil.rmtree(
            sup.manager.installation.host_path(sup.manager.instance_dir), ignore_errors=True
        )


def _played(obs: AriObserver) -> list[dict[str, Any]]:
    return obs.find(lambda e: e.get("type") == "PlaybackStarted")


def _media(event: dict[str, Any]) -> str:
    playback = event.get("playback", {})
    return str(playback.get("media_uri") or playback.get("media_uris"))


def test_given_a_caller_mid_ivr_when_the_controller_is_killed_then_the_prompt_plays_again_within_5_s_and_their_key_is_answered(
    supervised_ivr: Supervised, tmp_path: Path
) -> None:
    """Issue 12 point 4 for the IVR: the session state lives in line311's Redis, so the
    controller the supervisor restarts resumes the call Asterisk kept in Stasis."""
    sup = supervised_ivr
    stack = sup.stack
    try:
        wait_until(
            lambda: (h := stack.health()) is not None and h["ari_connected"],
            120,
            "the supervised controller's /health with ARI connected",
        )
        wait_until(stack.crm_health, 30, "the supervised CRM bridge")
    except AssertionError:
        raise AssertionError(sup.logs()) from None
    s = sup.settings
    obs = AriObserver(s.ari_url, s.ari_user, s.ari_password.get_secret_value())
    try:
        known = {r["call_id"] for r in stack.calls()}
        # the caller keys 1 (English) 15 s into the call, then stays 8 s more and hangs up
        caller = start_caller(
            tmp_path / "sipp", s.sip_port, "311", dtmf=[(15000, "1")], hold_ms=8000
        )
        # past the greeting: a restarted IVR would start over with it, a resumed one does not
        wait_until(lambda: len(_played(obs)) >= 3, 30, "the IVR past its greeting")
        old_pid = sup.processes()["controller"]["pid"]
        played = _played(obs)
        before, interrupted = len(played), _media(played[-1])
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(
            lambda: len(_played(obs)) > before,
            5,
            "the interrupted prompt to play again after the controller was killed",
        )
        replayed_in = time.monotonic() - killed_at
        assert replayed_in <= 5.0, replayed_in
        replayed = _media(_played(obs)[before])
        assert replayed == interrupted, (replayed, interrupted)
        assert replayed != _media(played[0]), "the call started over instead of resuming"
        assert sup.processes()["controller"]["pid"] != old_pid

        # the key pressed after the restart is answered: a prompt starts after the digit
        def answered() -> bool:
            events = obs.snapshot()
            digits = [i for i, e in enumerate(events) if e.get("type") == "ChannelDtmfReceived"]
            return bool(digits) and any(
                e.get("type") == "PlaybackStarted" for e in events[digits[0] + 1 :]
            )

        wait_until(answered, 25, "a prompt answering the key pressed after the restart")
        result = caller.wait(timeout=60)
        assert result.final_status == 200
        rec = record_for(stack, "311", known, timeout=30)
        assert rec["outcome"] != "failed", rec
        assert rec["language"] == "en", rec  # the key 1 pressed after the restart counted
    except AssertionError:
        raise AssertionError(sup.logs()) from None
    finally:
        obs.close()


@pytest.fixture
def supervised_queue(tmp_path: Path) -> Iterator[Supervised]:
    """``line311 run`` with the shipped call flow and one ``general`` queue (1 s wrap-up)."""
    sup = Supervised(tmp_path, flow=default_flow_path(), extra_env=general_queue_env(tmp_path))
    sup.run.start()
    try:
        yield sup
    finally:
        sup.run.stop(timeout=60)
        sup.manager.stop()
        shutil.rmtree(
            sup.manager.installation.host_path(sup.manager.instance_dir), ignore_errors=True
        )


def _queue_log(sup: Supervised, event: str) -> list[str]:
    """Call ids of the queue_log lines of ``event``, in the order they were written."""
    path = sup.settings.state_dir / "queue_log"
    if not path.exists():
        return []
    return [r.call_id for r in parse_lines(path.read_text().splitlines()) if r.event == event]


def _when(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def test_given_two_callers_waiting_and_one_talking_to_a_ccr_when_the_controller_is_killed_then_nobody_is_hung_up_and_the_waiting_reach_the_ccr_in_order(
    supervised_queue: Supervised, tmp_path: Path
) -> None:
    """Issue 12 point 4 for the queue: the queued calls' state lives in line311's Redis, so
    the controller the supervisor restarts carries them on (place, music, the CCR's call)."""
    sup = supervised_queue
    stack = sup.stack
    s = sup.settings
    try:
        wait_until(
            lambda: (h := stack.health()) is not None and h["ari_connected"],
            120,
            "the supervised controller's /health with ARI connected",
        )
        wait_until(stack.crm_health, 30, "the supervised CRM bridge")
    except AssertionError:
        raise AssertionError(sup.logs()) from None
    phone = start_agent(
        tmp_path / "agent1", s.sip_port, "agent1", s.agent_password.get_secret_value()
    )
    callers = []
    try:
        r = httpx.post(
            f"http://127.0.0.1:{s.http_port}/api/desk/agents/agent1/login",
            headers={"Authorization": f"Bearer {stack.supervisor_token()}"},
            timeout=5,
        )
        assert r.status_code == 200, r.text
        # English (1), then a representative (0); each caller hangs up by itself: the first
        # while talking after the restart, the second once it has talked a little, the third
        # last. A BYE from our side would end a SIPp caller early (remote_hung_up).
        for n, hold_ms in enumerate((14_000, 24_000, 34_000)):
            callers.append(
                start_caller(
                    tmp_path / f"caller{n}",
                    s.sip_port,
                    "311",
                    dtmf=[(10_500, "1"), (1_500, "0")],
                    hold_ms=hold_ms,
                )
            )
            time.sleep(1.0)  # pacing, not a wait: arrivals 1 s apart are the scenario
        wait_until(
            lambda: len(_queue_log(sup, "ENTERQUEUE")) == 3 and _queue_log(sup, "CONNECT"),
            40,
            "the first caller talking to agent1, two waiting",
        )
        first, second, third = _queue_log(sup, "ENTERQUEUE")
        assert _queue_log(sup, "CONNECT") == [first]

        old_pid = sup.processes()["controller"]["pid"]
        os.kill(old_pid, signal.SIGKILL)
        killed_at, killed_wall = time.monotonic(), time.time()
        wait_until(lambda: not _alive(old_pid), 5, "the controller to die")
        wait_until(
            lambda: (h := stack.health()) is not None and h["ari_connected"],
            5,
            "the restarted controller's /health with ARI connected",
        )
        assert time.monotonic() - killed_at <= 5.0
        assert sup.processes()["controller"]["pid"] != old_pid
        assert all(c.proc.poll() is None for c in callers), "a call ended with the controller"

        wait_until(
            lambda: _queue_log(sup, "CONNECT") == [first, second, third],
            60,
            "the waiting callers connected to agent1, in the order they called",
        )
        results = [c.wait(timeout=60) for c in callers]
        for result in results:
            assert result.final_status == 200
            assert not result.remote_hung_up, "a caller got a BYE they did not cause"

        # the talking call's record: answered before the kill, ended after, full talk time
        rec = wait_until(
            lambda: next((r for r in stack.calls() if r["call_id"] == first), None),
            30,
            "the talking call's record",
        )
        assert rec is not None
        leg = rec["queue_leg"]
        assert (rec["outcome"], leg["end"], leg["agent_id"]) == ("handled", "answered", "agent1")
        answered, ended = _when(leg["answered_at"]), _when(leg["ended_at"])
        assert answered < killed_wall < ended
        assert abs(rec["talk_seconds"] - (ended - answered)) <= 1.0
        assert rec["talk_seconds"] >= 5.0
        assert rec["path"]["exit"] == "representative-requested"  # the IVR half, kept in Redis
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        for caller in callers:
            caller.kill()
        phone.stop()
