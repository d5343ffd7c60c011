"""Issue 12 point 3, end to end: ``line311 run`` supervises real processes on a real Asterisk.

The stack here is ``line311 run`` itself (the ``supervised_run`` fixture, `tests.e2e.supervised`):
its own Asterisk instance, its own Redis, CRM bridge and controller, on free ports and a state
dir of the test. The controller is killed with SIGKILL; the supervisor brings it back, /health answers
again within 5 s, ``line311 status`` shows the restart, and a new call is answered by it.

The two tests that kill the controller mid-call share one ``line311 run`` (`queue_run`, the
shipped flow and one ``general`` queue): each places and reads only its own calls, and the
run forgets a controller's earlier deaths after 5 s up, so each kill is a first failure
(restart after the initial 0.5 s), as on a fresh run, in either order.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from line311.ivr.flow import default_flow_path
from line311.sim.sipp import ON_CUE, start_agent, start_caller, start_phone
from tests.e2e.conftest import record_for, start_supervised
from tests.e2e.stack import AriObserver, wait_until
from tests.e2e.supervised import Desk, Supervised, alive

pytestmark = pytest.mark.asterisk

Start = Callable[..., Supervised]
"""The ``supervised_run`` fixture (tests/e2e/conftest.py)."""


def test_given_line311_run_when_the_controller_is_killed_then_it_is_back_within_5_s_and_answers_a_new_call(
    supervised_run: Start, tmp_path: Path
) -> None:
    supervised = supervised_run()
    stack = supervised.stack
    try:
        wait_until(lambda: supervised.status()[0] == 0, 30, "`line311 status` all running")
    except AssertionError:
        raise AssertionError(supervised.logs()) from None
    before = supervised.processes()
    assert list(before) == ["asterisk", "redis", "crm-bridge", "controller", "dashboard"]
    assert all(p["restarts"] == 0 for p in before.values())
    old_pid = before["controller"]["pid"]

    spare = supervised.wait_spare()
    killed = supervised.kill_controller(back_within=5, pid=old_pid)
    assert killed.back_in <= 5.0
    assert "controller started from its warm spare" in supervised.run.output()

    after = supervised.processes()
    assert after["controller"]["restarts"] == 1
    assert after["controller"]["pid"] == spare  # the spare took over
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
    assert not any(alive(pid) for pid in pids.values() if pid), pids
    code, status = supervised.status()
    assert code == 1
    assert {p["state"] for p in status["processes"]} == {"stopped"}


@pytest.fixture(scope="module")
def queue_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervised]:
    """One ``line311 run`` with the shipped call flow and one ``general`` queue (1 s wrap-up)
    for the tests that kill its controller mid-call; stopped after the module."""
    sup = start_supervised(
        tmp_path_factory.mktemp("queue-run"),
        default_flow_path(),
        queue=True,
        extra_env={"LINE311_RESTART_RESET_AFTER": "5"},
    )
    try:
        yield sup
    finally:
        sup.close()


def _played(obs: AriObserver) -> list[dict[str, Any]]:
    return obs.find(lambda e: e.get("type") == "PlaybackStarted")


def _playback_id(event: dict[str, Any]) -> str:
    return str(event.get("playback", {}).get("id"))


def _media(event: dict[str, Any]) -> str:
    playback = event.get("playback", {})
    return str(playback.get("media_uri") or playback.get("media_uris"))


def test_given_a_caller_mid_ivr_when_the_controller_is_killed_then_the_prompt_plays_again_within_5_s_and_their_key_is_answered(
    queue_run: Supervised, tmp_path: Path
) -> None:
    """Issue 12 point 4 for the IVR: the session state lives in line311's Redis, so the
    controller the supervisor restarts resumes the call Asterisk kept in Stasis."""
    sup = queue_run  # the shipped flow: greeting, language menu, main menu
    stack, s = sup.stack, sup.settings
    obs = sup.observer()
    known = {r["call_id"] for r in stack.calls()}
    sup.wait_spare()  # as a run has it a few seconds after each start
    # the caller keys 1 (English) 15 s into the call, then stays 8 s more and hangs up
    caller = start_caller(tmp_path / "sipp", s.sip_port, "311", dtmf=[(15000, "1")], hold_ms=8000)
    try:
        # past the greeting: a restarted IVR would start over with it, a resumed one does not
        wait_until(lambda: len(_played(obs)) >= 3, 30, "the IVR past its greeting")
        old_pid = sup.processes()["controller"]["pid"]
        played = _played(obs)
        # A menu's prompts play as one media list, with a PlaybackStarted for each, and the
        # list plays on while no controller is there: the resumed call is a *new* playback
        # (its own id) that starts with the interrupted prompt, then the rest of its list.
        seen, interrupted = {_playback_id(e) for e in played}, _media(played[-1])
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        def replay() -> dict[str, Any] | None:
            new = [e for e in _played(obs) if _playback_id(e) not in seen]
            return new[0] if new else None

        first = wait_until(
            replay, 5, "the interrupted prompt to play again after the controller was killed"
        )
        replayed_in = time.monotonic() - killed_at
        assert replayed_in <= 5.0, replayed_in
        replayed = _media(first)
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
        caller.kill()  # after a failure: not left running into the next test
        obs.close()


def _when(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def test_given_two_callers_waiting_and_one_talking_to_a_ccr_when_the_controller_is_killed_then_nobody_is_hung_up_and_the_waiting_reach_the_ccr_in_order(
    queue_run: Supervised, tmp_path: Path
) -> None:
    """Issue 12 point 4 for the queue: the queued calls' state lives in line311's Redis, so
    the controller the supervisor restarts carries them on (place, music, the CCR's call)."""
    sup = queue_run  # the shipped call flow and one ``general`` queue (1 s wrap-up)
    stack, s = sup.stack, sup.settings
    phone = start_agent(
        tmp_path / "agent1", s.sip_port, "agent1", s.agent_password.get_secret_value()
    )
    callers = []
    try:
        Desk(sup).post("/agents/agent1/login")
        # English (1), then a representative (0); each caller hangs up by itself: the first
        # while talking after the restart, the second once it has talked a little, the third
        # last. A BYE from our side would end a SIPp caller early (remote_hung_up).
        for n, hold_ms in enumerate((14_000, 24_000, 34_000)):
            callers.append(
                start_caller(
                    tmp_path / f"caller{n}",
                    s.sip_port,
                    "311",
                    dtmf=[(ON_CUE, "1"), (1_500, "0")],
                    hold_ms=hold_ms,
                )
            )
            time.sleep(1.0)  # pacing, not a wait: arrivals 1 s apart are the scenario
        wait_until(
            lambda: len(sup.queue_log_ids("ENTERQUEUE")) == 3 and sup.queue_log_ids("CONNECT"),
            40,
            "the first caller talking to agent1, two waiting",
        )
        first, second, third = sup.queue_log_ids("ENTERQUEUE")
        assert sup.queue_log_ids("CONNECT") == [first]

        killed = sup.kill_controller(back_within=5)
        assert killed.back_in <= 5.0
        assert sup.controller()["pid"] != killed.pid
        assert all(c.proc.poll() is None for c in callers), "a call ended with the controller"

        wait_until(
            lambda: sup.queue_log_ids("CONNECT") == [first, second, third],
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
        assert answered < killed.at < ended
        assert abs(rec["talk_seconds"] - (ended - answered)) <= 1.0
        assert rec["talk_seconds"] >= 5.0
        assert rec["path"]["exit"] == "representative-requested"  # the IVR half, kept in Redis
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        for caller in callers:
            caller.kill()
        phone.stop()


RESIDENT = "2125550163"  # the callback's number: sealed in Redis, in no log


def _redis(sup: Supervised) -> Any:
    """A client on line311's Redis, with the password the run generated (its secrets.toml)."""
    return redis.Redis(
        port=int(sup.stack.env["LINE311_REDIS_PORT"]),
        password=sup.settings.redis_password.get_secret_value(),
    )


def _stored_state(sup: Supervised, call_id: str) -> tuple[bytes, dict[str, Any] | None]:
    """Every value in line311's Redis (raw bytes, joined) and the call's saved state."""
    client: Any = _redis(sup)
    try:
        raw = b""
        for key in client.scan_iter():
            kind = client.type(key)
            if kind == b"hash":
                raw += b"".join(k + v for k, v in client.hgetall(key).items())
            elif kind == b"string":
                raw += client.get(key) or b""
            elif kind == b"zset":
                raw += b"".join(client.zrange(key, 0, -1))
        entry = client.hget("line311:sessions", call_id)
        state = json.loads(entry)["state"] if entry else None
        return raw, state
    finally:
        client.close()


def _aof(sup: Supervised) -> bytes:
    """The bytes of line311's Redis append-only files."""
    client: Any = _redis(sup)
    try:
        server_dir = Path(str(client.config_get("dir")["dir"]))
    finally:
        client.close()
    dirs = [server_dir, *sup.settings.state_dir.glob("redis-*")]
    found = next((d for d in dirs if d.is_dir()), None)
    assert found is not None, dirs
    return b"".join(p.read_bytes() for p in found.rglob("*") if p.is_file())


def test_given_a_kept_callback_when_the_controller_is_killed_then_the_resident_is_still_called_back(
    supervised_run: Start, tmp_path: Path
) -> None:
    """Issue 12: a resident told "we will call you back" is called back after a restart.
    Their number travels with the call's saved state, sealed (AES-GCM): never in clear text
    in Redis, its AOF or any log."""
    sup = supervised_run(default_flow_path(), queue=True)
    stack, s = sup.stack, sup.settings
    desk = Desk(sup)
    phone = start_agent(
        tmp_path / "agent1", s.sip_port, "agent1", s.agent_password.get_secret_value(),
        talk_ms=12_000,  # from the CCR's answer: the whisper, then the resident is dialled
    )  # fmt: skip
    resident = None
    try:
        desk.post("/agents/agent1/login")
        desk.post("/agents/agent1/pause")  # nobody free: the caller waits, then presses 1
        # English (1), a representative (0), then 1 in the queue: call me back
        caller = start_caller(
            tmp_path / "caller", s.sip_port, "311", from_user=RESIDENT,
            dtmf=[(ON_CUE, "1"), (1_500, "0"), (6_000, "1")], hold_ms=30_000,
        )  # fmt: skip
        result = caller.wait(timeout=90)
        assert result.final_status == 200
        assert result.remote_hung_up, "line311 should hang up after confirming the callback"
        wait_until(lambda: sup.queue_log_ids("CALLBACKREQUESTED"), 10, "the callback request")
        (call_id,) = sup.queue_log_ids("CALLBACKREQUESTED")

        # kept in Redis, sealed: the token is there, the number is not (nor in the AOF)
        raw, state = _stored_state(sup, call_id)
        assert state is not None
        assert state["leg"]["callback"] is True
        assert str(state.get("contact", "")).startswith("v1.")
        assert RESIDENT.encode() not in raw
        wait_until(lambda: call_id.encode() in _aof(sup), 5, "the call's state in the AOF")
        assert RESIDENT.encode() not in _aof(sup)

        killed = sup.kill_controller(back_within=5)
        assert killed.back_in <= 5.0

        # the resident's phone (the SIPp caller's own address) is ready; the CCR comes back
        resident = start_phone(tmp_path / "resident", caller.local_port, talk_ms=600_000)
        desk.post("/agents/agent1/resume")
        wait_until(
            lambda: sup.queue_log_ids("CONNECT") == [call_id], 40, "the callback to be connected"
        )
        wait_until(
            lambda: any(
                r.call_id == call_id and r.event.startswith("COMPLETE") for r in sup.queue_log()
            ),
            40,
            "the callback to end",
        )
        assert resident.snapshot().requests.count("INVITE") == 1
        connect = next(r for r in sup.queue_log() if r.event == "CONNECT")
        assert connect.agent == "agent1"
        rec = wait_until(
            lambda: next((r for r in stack.calls() if r["call_id"] == call_id), None),
            30,
            "the callback's record",
        )
        assert rec is not None
        assert rec["outcome"] == "callback_handled", rec
        assert rec["queue_leg"]["callback_kept"] is True
        # done: the saved state (and its sealed contact) is gone
        assert _stored_state(sup, call_id)[1] is None
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        phone.stop()
        if resident is not None:
            resident.stop()
    # the number is in none of line311's logs, its queue_log or its database
    state_dir = s.state_dir
    written = [*state_dir.glob("*.log"), state_dir / "queue_log", stack.workdir / "run.log"]
    for path in written:
        if path.is_file():
            assert RESIDENT not in path.read_text(errors="replace"), path
    assert RESIDENT.encode() not in (stack.workdir / "line311.db").read_bytes()
