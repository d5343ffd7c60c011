"""IVR workers: several controller processes share the calls (issue 13 goal 4, issue 12 point 3).

``line311 run`` with ``ivr_workers = 2`` on a real Asterisk and Redis: the dialplan offers each
new call to both workers (StasisBroadcast), the one that claims it runs its IVR, and a caller
who asks for a representative is moved to the controller, whose one queue serves them in the
order they entered. A worker killed (SIGKILL) mid-IVR is started again by the supervisor and
carries its callers on: the prompt is heard again, the caller's key is answered, and the
call reaches a CCR with its whole record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.sim.sipp import SippCaller, SippPhone, start_agent, start_caller
from tests.conftest import free_port_run
from tests.e2e.stack import LINE311, wait_until
from tests.e2e.supervised import Desk, Supervised, alive
from tests.e2e.test_fleet_queue import STRAIGHT_TO_QUEUE

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.asterisk

Start = Callable[..., Supervised]

MENU_TO_QUEUE = """\
flow: menu-to-queue
version: 1
start: pick
nodes:
  pick:
    kind: menu
    topic: general
    prompts: [main_menu]
    options: {"2": representative}
  representative: {kind: queue, topic: general}
"""
REPEATED_KEY = [(10_000, "2"), (6_000, "2"), (6_000, "2")]
"""The caller keys 2 at 10 s, 16 s and 22 s (the waits are between keys)."""


def _workers(
    tmp_path: Path,
    supervised_run: Start,
    flow_text: str,
    workers: int = 2,
    extra_env: dict[str, str] | None = None,
) -> Supervised:
    flow = tmp_path / "flow.yaml"
    flow.write_text(flow_text)
    base = free_port_run(workers) - 1  # worker K's /health on base + K
    sup = supervised_run(
        flow,
        queue=True,
        extra_env={
            "LINE311_IVR_WORKERS": str(workers),
            "LINE311_IVR_WORKER_HTTP_PORT_BASE": str(base),
            **(extra_env or {}),
        },
    )
    sup.worker_base = base  # type: ignore[attr-defined]
    return sup


def _workers_up(sup: Supervised, workers: int = 2) -> None:
    for k in range(1, workers + 1):
        try:
            wait_until(
                lambda k=k: (h := _worker_health(sup, k)) is not None and h["ari_connected"],
                30,
                f"worker {k} connected to ARI",
            )
        except AssertionError as exc:  # who has the worker's port, if anyone
            port = sup.worker_base + k  # type: ignore[attr-defined]
            raise AssertionError(f"{exc}; port {port}: {_sockets_on(port)}") from None


def _sockets_on(port: int) -> str:
    """The loopback TCP sockets on ``port`` (``ss``), to tell a lost port from a slow worker."""
    try:
        found = subprocess.run(
            ["ss", "-Htanp", f"( sport = :{port} )"], capture_output=True, text=True, check=False
        )
    except OSError as exc:  # no ss here
        return f"unknown ({exc})"
    return found.stdout.strip() or f"none ({found.stderr.strip() or 'ss found nothing'})"


def _ccr(sup: Supervised, tmp_path: Path, *, talk_ms: int) -> SippPhone:
    """agent1's phone (answers after 200 ms, talks ``talk_ms``), agent1 logged in."""
    s = sup.settings
    phone = start_agent(
        tmp_path / "agent1",
        s.sip_port,
        "agent1",
        s.agent_password.get_secret_value(),
        answer_ms=200,
        talk_ms=talk_ms,
    )
    Desk(sup).post("/agents/agent1/login")
    return phone


def _worker_health(sup: Supervised, k: int) -> dict[str, Any] | None:
    base = sup.worker_base  # type: ignore[attr-defined]
    try:
        reply = httpx.get(f"http://127.0.0.1:{base + k}/health", timeout=2)
    except httpx.HTTPError:
        return None
    return reply.json() if reply.status_code in (200, 503) else None


def _metric(sup: Supervised, k: int, name: str) -> float:
    base = sup.worker_base  # type: ignore[attr-defined]
    text = httpx.get(f"http://127.0.0.1:{base + k}/metrics", timeout=2).text
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _log(sup: Supervised, name: str) -> str:
    path = sup.settings.state_dir / name
    return path.read_text(errors="replace") if path.exists() else ""


def _rolled(sup: Supervised, before: dict[str, Any]) -> Callable[[], bool]:
    """True once each process of ``before`` (name: its pid then) runs as a new one and the
    old one has left."""

    def rolled() -> bool:
        now = sup.processes()
        return all(
            now[n]["pid"] != pid and not now[n]["draining"] and not alive(int(pid))
            for n, pid in before.items()
        )

    return rolled


TAKEN_UP = ("call resumed (ivr)", "with no stored state: starting its IVR again")
"""What a restarted worker logs for each call of its own it takes up: resumed from its store,
or (claimed but not yet saved when it died) its IVR started again."""


def _taken_up(sup: Supervised, workers: int = 2) -> int:
    """How many calls the restarted workers took up, as their logs say."""
    logs = [_log(sup, f"ivr-worker-{k}.log") for k in range(1, workers + 1)]
    return sum(log.count(line) for log in logs for line in TAKEN_UP)


def _all_logs(sup: Supervised, workers: int = 2) -> str:
    parts = [sup.logs()]
    for k in range(1, workers + 1):
        parts.append(f"--- ivr-worker-{k}.log\n" + _log(sup, f"ivr-worker-{k}.log")[-4000:])
    return "\n".join(parts)


def test_given_two_ivr_workers_when_callers_ask_for_a_ccr_then_workers_run_the_ivr_and_the_one_queue_serves_them_in_order(
    supervised_run: Start, tmp_path: Path
) -> None:
    sup = _workers(tmp_path, supervised_run, STRAIGHT_TO_QUEUE)
    s = sup.settings
    callers: list[SippCaller] = []
    phone: SippPhone | None = None
    try:
        processes = sup.processes()
        assert {"ivr-worker-1", "ivr-worker-2"} <= set(processes), processes
        _workers_up(sup)
        for n in range(6):  # they wait: no CCR yet
            callers.append(start_caller(tmp_path / f"caller{n}", s.sip_port, "311", hold_ms=60_000))
            wait_until(
                lambda n=n: len(sup.queue_log_ids("ENTERQUEUE")) == n + 1,
                30,
                f"caller {n} in the queue",
            )
        entered = sup.queue_log_ids("ENTERQUEUE")
        claimed = [_metric(sup, k, "line311_worker_calls_claimed_total") for k in (1, 2)]
        handed = [_metric(sup, k, "line311_worker_calls_handed_off_total") for k in (1, 2)]
        assert sum(claimed) == 6, (claimed, entered)
        assert sum(handed) == 6, (handed, entered)
        # the controller ran no IVR: every call came to it moved by a worker
        controller = _log(sup, "controller.log")
        assert controller.count("call taken over: queue") == 6
        assert "call started: dialed" not in controller

        phone = _ccr(sup, tmp_path, talk_ms=800)
        wait_until(
            lambda: len(sup.queue_log_ids("CONNECT")) == 6, 90, "six callers served", step=0.3
        )
        assert sup.queue_log_ids("CONNECT") == entered  # in the order they entered

        def records() -> list[dict[str, Any]] | None:
            got = [r for r in sup.stack.calls() if r["call_id"] in entered]
            return got if len(got) == 6 and all(r.get("queue_leg") for r in got) else None

        for record in wait_until(records, 60, "the six records", step=0.5):
            assert record["outcome"] == "handled", record
            assert record["queue_leg"]["agent_id"] == "agent1", record
            assert record["path"], record  # the IVR half, written by the worker
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        for caller in callers:
            caller.kill()
        if phone is not None:
            phone.stop()


def test_given_a_caller_in_a_workers_ivr_when_the_worker_is_killed_then_it_comes_back_and_the_call_goes_on(
    supervised_run: Start, tmp_path: Path
) -> None:
    sup = _workers(tmp_path, supervised_run, MENU_TO_QUEUE)
    s = sup.settings
    phone: SippPhone | None = None
    caller: SippCaller | None = None
    try:
        _workers_up(sup)
        phone = _ccr(sup, tmp_path, talk_ms=1500)
        # the caller keys 2 at 10 s, 16 s and 22 s: a key pressed while no worker listens is
        # lost (Asterisk drops an app's events while it is away), so the first one after the
        # worker is back counts, however long its start took on a loaded box; once the caller
        # is in the queue a 2 means nothing (1 would ask for a callback)
        caller = start_caller(
            tmp_path / "caller", s.sip_port, "311", dtmf=REPEATED_KEY, hold_ms=30_000
        )

        def holder() -> int | None:
            for k in (1, 2):
                health = _worker_health(sup, k)
                if health is not None and health["active_calls"] == 1:
                    return k
            return None

        k = wait_until(holder, 15, "a worker holding the call")
        victim = int(sup.processes()[f"ivr-worker-{k}"]["pid"])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not alive(victim), 5, "the worker to die")
        # back with the call: its log says it resumed it (a count of its calls would miss a
        # worker whose restart took so long that the caller's next key handed the call on
        # before the count was read: that race failed this test once in CI)
        wait_until(
            lambda: (
                (h := _worker_health(sup, k)) is not None
                and h["ari_connected"]
                and "call resumed (ivr)" in _log(sup, f"ivr-worker-{k}.log")
            ),
            20,
            "the worker back with the call",
        )
        assert caller.proc.poll() is None  # still on the line: no BYE it did not cause
        # the key is answered: the caller reaches the CCR through the controller's queue
        wait_until(lambda: sup.queue_log_ids("CONNECT") or None, 30, "the caller served")
        [call_id] = sup.queue_log_ids("CONNECT")
        record = wait_until(
            lambda: next(
                (r for r in sup.stack.calls() if r["call_id"] == call_id and r.get("queue_leg")),
                None,
            ),
            40,
            "the call's record",
            step=0.5,
        )
        assert record["outcome"] == "handled", record
        assert record["queue_leg"]["agent_id"] == "agent1", record
        assert record["queue_leg"]["talk_seconds"] > 0, record
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        if caller is not None:
            caller.kill()
        if phone is not None:
            phone.stop()


def test_given_callers_in_every_state_when_every_controller_process_is_killed_at_once_then_each_call_goes_on(
    supervised_run: Start, tmp_path: Path
) -> None:
    """Issue 12's "show it" with IVR workers: A talks to the CCR, D waits in line, B and C are
    in the workers' IVR; the controller and both workers are SIGKILLed at once. The
    supervisor starts all three again: A stays bridged (its record has the whole talk), D
    keeps its place, B and C hear their menu again and their keys are answered; nobody gets
    a BYE they did not cause, and the CCR serves them in the order they entered the queue."""
    sup = _workers(tmp_path, supervised_run, MENU_TO_QUEUE)
    s = sup.settings
    phones: list[SippPhone] = []
    callers: dict[str, SippCaller] = {}
    try:
        _workers_up(sup)
        # the CCR talks longer than the kill comes after A's answer (B and C reaching the
        # IVR: ~5 s) plus the restart allowed below (20 s): a CCR who hung up meanwhile ends
        # A's call, rightly, and the check below is about the restart, not the talk's end
        phones.append(_ccr(sup, tmp_path, talk_ms=35_000))

        def call(name: str, key_at_ms: int) -> None:
            callers[name] = start_caller(
                tmp_path / name,
                s.sip_port,
                "311",
                dtmf=[(key_at_ms, "2"), (12_000, "2")],  # again, in case the first was lost
                hold_ms=240_000,
            )

        call("A", 1_000)
        wait_until(lambda: sup.queue_log_ids("CONNECT") or None, 20, "A talking to the CCR")
        call("D", 1_000)
        wait_until(lambda: len(sup.queue_log_ids("ENTERQUEUE")) == 2, 20, "D waiting")
        call("B", 14_000)
        call("C", 17_000)

        def in_ivr() -> int:
            return sum(
                (h := _worker_health(sup, k)) is not None and h["active_calls"] for k in (1, 2)
            )

        wait_until(lambda: in_ivr() == 2, 15, "B and C in the workers' IVR")
        [a_id] = sup.queue_log_ids("CONNECT")
        d_id = sup.queue_log_ids("ENTERQUEUE")[1]

        processes = sup.processes()
        victims = [int(processes[n]["pid"]) for n in ("controller", "ivr-worker-1", "ivr-worker-2")]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        for pid in victims:
            wait_until(lambda pid=pid: not alive(pid), 5, f"pid {pid} to die")
        killed_at = time.monotonic()
        # three Python processes start at once on this 2-core box, beside another test: 5 s
        # on an idle box (docs/scaling.md); 20 s allowed here (9 s seen in CI, where the first
        # start of the same three took 7 s), the time taken logged
        wait_until(sup.ari_up, 20, "a controller back within 20 s")
        logger.info("controller back %.1f s after the kill", time.monotonic() - killed_at)

        def both_back() -> bool:
            # B and C may both be one worker's: the other's calls do not say it is back. Each
            # is taken up once its worker's log says so, not by a count of the workers' calls:
            # a key of B's answered by then may already have handed B to the queue
            healths = [_worker_health(sup, k) for k in (1, 2)]
            if any(h is None or not h["ari_connected"] for h in healths):
                return False
            return _taken_up(sup) == 2

        wait_until(both_back, 20, "both workers back, with B and C")
        for name, caller in callers.items():
            assert caller.proc.poll() is None, f"{name} got a BYE"  # nobody was cut off

        # the restart is behind us: the CCR moves to a phone with short talks (its new
        # REGISTER replaces the contact; A's call stays on the old phone), so D, B and C need
        # not wait 35 s each; one CCR still serves them, in the order they entered the line
        short = start_agent(
            tmp_path / "agent1-short", s.sip_port, "agent1",
            s.agent_password.get_secret_value(), answer_ms=200, talk_ms=2_000,
        )  # fmt: skip
        phones.append(short)
        # the CCR serves D, then B and C as their keys put them in line
        wait_until(lambda: len(sup.queue_log_ids("CONNECT")) == 4, 120, "all four served", step=0.3)
        connects = sup.queue_log_ids("CONNECT")
        entered = sup.queue_log_ids("ENTERQUEUE")
        assert connects[:2] == [a_id, d_id], connects
        assert connects == entered, (connects, entered)

        def records() -> dict[str, dict[str, Any]] | None:
            got = {
                r["call_id"]: r
                for r in sup.stack.calls()
                if r["call_id"] in entered and r.get("queue_leg")
            }
            return got if len(got) == 3 else None  # A, D, B ended; C may still talk

        done = wait_until(records, 60, "the records", step=0.5)
        a = done[a_id]
        assert a["outcome"] == "handled", a
        assert a["queue_leg"]["talk_seconds"] >= 20, a  # the whole talk, across the restart
        assert done[d_id]["outcome"] == "handled", done[d_id]
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        for caller in callers.values():
            caller.kill()
        for phone in phones:
            phone.stop()


def test_given_a_caller_in_a_workers_ivr_when_the_stack_is_restarted_rolling_then_the_call_goes_on(
    supervised_run: Start, tmp_path: Path
) -> None:
    """``line311 restart ivr-worker-1`` (SIGHUP: every rolling process, the controller and the
    workers): a new worker takes each app over before the old one leaves; the caller mid-IVR
    keys 2 after the swap and reaches the CCR; a call arriving during the swap is served."""
    sup = _workers(tmp_path, supervised_run, MENU_TO_QUEUE)
    s = sup.settings
    phone: SippPhone | None = None
    callers: list[SippCaller] = []
    try:
        _workers_up(sup)
        phone = _ccr(sup, tmp_path, talk_ms=1_000)
        callers.append(
            start_caller(
                tmp_path / "first",
                s.sip_port,
                "311",
                dtmf=[(12_000, "2"), (8_000, "2")],
                hold_ms=40_000,
            )
        )
        wait_until(
            lambda: sum((_worker_health(sup, k) or {}).get("active_calls", 0) for k in (1, 2)),
            15,
            "the caller in a worker's IVR",
        )
        before = {n: p["pid"] for n, p in sup.processes().items() if n.startswith("ivr-worker")}
        restart = subprocess.Popen(
            [*LINE311, "restart", "ivr-worker-1", "--timeout", "60"],
            env=sup.stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        callers.append(
            start_caller(
                tmp_path / "during",
                s.sip_port,
                "311",
                dtmf=[(3_000, "2"), (8_000, "2")],
                hold_ms=40_000,
            )
        )
        out, _ = restart.communicate(timeout=90)
        assert restart.returncode == 0, out
        # the supervisor rolls them one after the other: the controller, worker 1, worker 2
        wait_until(_rolled(sup, before), 60, "both workers rolled", step=0.3)
        # no BYE it did not cause: still in its call, or already served (a busy box can take
        # longer to roll every process, the dashboard last, than the caller to reach the CCR
        # and the CCR's 1-s talk); both callers served is checked next
        ended = callers[0].proc.poll() is not None
        assert not ended or sup.queue_log_ids("CONNECT"), "the first caller ended unserved"
        wait_until(
            lambda: len(sup.queue_log_ids("CONNECT")) == 2, 60, "both callers served", step=0.3
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        for caller in callers:
            caller.kill()
        if phone is not None:
            phone.stop()


def test_given_redis_killed_when_a_workers_caller_asks_for_a_ccr_then_the_hand_off_waits_with_music_and_goes_through(
    supervised_run: Start, tmp_path: Path
) -> None:
    """Redis (where hand-offs live) is SIGKILLed while a caller is in a worker's IVR and stays
    away 6 s (the supervisor's first restart delay); the caller keys 2 meanwhile: the worker
    cannot store the hand-off, plays music and tries again every second; once Redis is back
    the caller is moved to the controller's queue and served."""
    sup = _workers(
        tmp_path,
        supervised_run,
        MENU_TO_QUEUE,
        extra_env={"LINE311_RESTART_BACKOFF_INITIAL": "6"},
    )
    s = sup.settings
    phone: SippPhone | None = None
    caller: SippCaller | None = None
    try:
        _workers_up(sup)
        phone = _ccr(sup, tmp_path, talk_ms=1_000)
        caller = start_caller(
            tmp_path / "caller", s.sip_port, "311", dtmf=[(5_000, "2")], hold_ms=40_000
        )
        wait_until(
            lambda: sum((_worker_health(sup, k) or {}).get("active_calls", 0) for k in (1, 2)),
            15,
            "the caller in a worker's IVR",
        )
        redis_pid = int(sup.processes()["redis"]["pid"])
        os.kill(redis_pid, signal.SIGKILL)
        wait_until(lambda: not alive(redis_pid), 5, "redis to die")
        wait_until(lambda: sup.queue_log_ids("CONNECT") or None, 40, "the caller served")
        assert sup.processes()["redis"]["restarts"] == 1
        logs = _log(sup, "ivr-worker-1.log") + _log(sup, "ivr-worker-2.log")
        assert "hand-off not stored" in logs, logs[-3000:]  # failed, then went through
        [call_id] = sup.queue_log_ids("CONNECT")
        record = wait_until(
            lambda: next(
                (r for r in sup.stack.calls() if r["call_id"] == call_id and r.get("queue_leg")),
                None,
            ),
            40,
            "the call's record",
            step=0.5,
        )
        assert record["outcome"] == "handled", record
        assert record["path"], record  # the IVR half travelled with the hand-off
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        if caller is not None:
            caller.kill()
        if phone is not None:
            phone.stop()


# ---------------------------------------------------------------------- queue legs in the workers
# ``queue_legs = workers``: a caller who asks for a representative stays in their worker, which
# plays the music, rings the CCR, bridges them and writes the record; the controller's one
# router, told over the desk link, serves every worker's callers in the order they entered. In
# this file (not one of their own) so that they never run beside the tests above on the other
# pytest-xdist worker: both start three Python processes and kill them, on 2 cores.

LEGS_IN_WORKERS = {"LINE311_QUEUE_LEGS": "workers"}


class _Line:
    """The stack with the legs in its 2 workers, the callers started, the CCR's phone."""

    def __init__(self, sup: Supervised, tmp_path: Path) -> None:
        self.sup = sup
        self.tmp_path = tmp_path
        self.callers: list[SippCaller] = []
        self.phone: SippPhone | None = None

    def wait_in_line(self, count: int) -> list[str]:
        """``count`` callers, each in the queue before the next calls (no CCR yet): their
        call ids in the order they entered."""
        for n in range(count):
            self.callers.append(
                start_caller(
                    self.tmp_path / f"caller{n}", self.sup.settings.sip_port, "311",
                    hold_ms=90_000,
                )
            )  # fmt: skip
            wait_until(
                lambda n=n: len(self.sup.queue_log_ids("ENTERQUEUE")) == n + 1,
                30,
                f"caller {n} in the queue",
            )
        return self.sup.queue_log_ids("ENTERQUEUE")

    def served_in_order(self, entered: list[str]) -> list[dict[str, Any]]:
        """A CCR signs in and serves every caller, in the order they entered; their records."""
        assert all(c.proc.poll() is None for c in self.callers)  # nobody got a BYE
        self.phone = _ccr(self.sup, self.tmp_path, talk_ms=800)
        wait_until(
            lambda: len(self.sup.queue_log_ids("CONNECT")) == len(entered),
            90,
            "every caller served",
            step=0.3,
        )
        assert self.sup.queue_log_ids("CONNECT") == entered  # in the order they entered

        def records() -> list[dict[str, Any]] | None:
            got = [r for r in self.sup.stack.calls() if r["call_id"] in entered]
            done = len(got) == len(entered) and all(r.get("queue_leg") for r in got)
            return got if done else None

        found: list[dict[str, Any]] = wait_until(records, 60, "the records", step=0.5)
        for record in found:
            assert record["outcome"] == "handled", record
        return found


@contextlib.contextmanager
def _line(
    supervised_run: Start, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[_Line]:
    env = {**LEGS_IN_WORKERS, **(extra_env or {})}
    sup = _workers(tmp_path, supervised_run, STRAIGHT_TO_QUEUE, extra_env=env)
    line = _Line(sup, tmp_path)
    try:
        _workers_up(sup)
        yield line
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        for caller in line.callers:
            caller.kill()
        if line.phone is not None:
            line.phone.stop()


def _kill(pid: int, what: str) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), 5, f"{what} to die")


def test_given_queue_legs_in_workers_when_callers_ask_for_a_ccr_then_they_stay_in_their_worker_and_are_served_in_order(
    supervised_run: Start, tmp_path: Path
) -> None:
    with _line(supervised_run, tmp_path) as line:
        sup = line.sup
        entered = line.wait_in_line(4)
        queued = [_metric(sup, k, "line311_worker_queued_calls") for k in (1, 2)]
        handed = [_metric(sup, k, "line311_worker_calls_handed_off_total") for k in (1, 2)]
        assert sum(queued) == 4, (queued, handed)
        assert sum(handed) == 0, (queued, handed)
        assert "call taken over" not in _log(sup, "controller.log")  # nobody was moved there
        for record in line.served_in_order(entered):
            leg = record["queue_leg"]
            assert leg["agent_id"] == "agent1", record
            assert leg["talk_seconds"] > 0, record
            assert [o["agent_id"] for o in leg["offers"]] == ["agent1"], record
            assert record["path"], record  # the IVR half, from the same worker
        workers = _log(sup, "ivr-worker-1.log") + _log(sup, "ivr-worker-2.log")
        assert workers.count("answered by agent1") == 4  # the legs ran in the workers


def test_given_queue_legs_in_workers_when_the_controller_is_killed_while_callers_wait_then_they_keep_their_places(
    supervised_run: Start, tmp_path: Path
) -> None:
    with _line(supervised_run, tmp_path) as line:
        sup = line.sup
        entered = line.wait_in_line(3)
        _kill(int(sup.processes()["controller"]["pid"]), "the controller")
        wait_until(
            lambda: "in line again for" in _log(sup, "controller.log") or None,
            30,
            "the new controller hearing the workers' callers",
        )
        assert len(line.served_in_order(entered)) == 3


def test_given_queue_legs_in_workers_when_a_worker_is_killed_while_its_callers_wait_then_they_keep_their_places(
    supervised_run: Start, tmp_path: Path
) -> None:
    with _line(supervised_run, tmp_path) as line:
        sup = line.sup
        entered = line.wait_in_line(4)
        queued = {k: _metric(sup, k, "line311_worker_queued_calls") for k in (1, 2)}
        k = max(queued, key=lambda w: queued[w])
        _kill(int(sup.processes()[f"ivr-worker-{k}"]["pid"]), f"worker {k}")

        def back() -> bool:
            health = _worker_health(sup, k)
            if health is None or not health["ari_connected"]:
                return False
            return _metric(sup, k, "line311_worker_queued_calls") == queued[k]

        wait_until(back, 30, "the worker back with its callers")
        assert len(line.served_in_order(entered)) == 4


def test_given_queue_legs_in_workers_when_the_stack_is_restarted_rolling_while_callers_wait_then_they_keep_their_places(
    supervised_run: Start, tmp_path: Path
) -> None:
    """SIGHUP rolls the controller, then each worker: a new one beside the old. The workers
    heed only the newest controller (its epoch on the desk link); the callers keep their music
    and places across all three swaps and are served in the order they entered."""
    with _line(supervised_run, tmp_path) as line:
        sup = line.sup
        entered = line.wait_in_line(3)
        rolling = ("controller", "ivr-worker-1", "ivr-worker-2")
        before = {n: p["pid"] for n, p in sup.processes().items() if n in rolling}
        restart = subprocess.run(
            [*LINE311, "restart", "ivr-worker-2", "--timeout", "90"],
            env=sup.stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restart.returncode == 0, restart.stdout + restart.stderr
        wait_until(_rolled(sup, before), 90, "the controller and both workers rolled", step=0.3)
        assert len(line.served_in_order(entered)) == 3


def test_given_queue_legs_in_workers_when_redis_is_killed_while_callers_wait_then_they_keep_their_places(
    supervised_run: Start, tmp_path: Path
) -> None:
    """Redis (the desk link's streams) SIGKILLed while 3 callers wait, back 3 s later: the
    callers keep their music; the messages wait in memory and go once it answers; the callers
    are served in the order they entered."""
    with _line(supervised_run, tmp_path, {"LINE311_RESTART_BACKOFF_INITIAL": "3"}) as line:
        sup = line.sup
        entered = line.wait_in_line(3)
        redis_pid = int(sup.processes()["redis"]["pid"])
        _kill(redis_pid, "redis")
        wait_until(
            lambda: (p := sup.processes()["redis"])["pid"] != redis_pid and p["restarts"] == 1,
            30,
            "redis started again",
        )
        assert len(line.served_in_order(entered)) == 3
