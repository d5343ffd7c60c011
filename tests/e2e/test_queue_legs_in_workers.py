"""Queued callers stay in their IVR worker; the controller only decides (issue 13 goal 4).

``line311 run`` with ``ivr_workers = 2`` and ``queue_legs = workers`` on a real Asterisk and
Redis, SIPp callers and a SIPp CCR phone: a caller who asks for a representative is not
moved to the controller. Their worker plays the music, rings the CCR, bridges them and writes
the record; the controller's one router, told over the desk link, serves every worker's
callers in the order they entered. A controller killed (SIGKILL) while callers wait comes
back, hears every worker's callers again and serves them in the same order.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from line311.sim.sipp import SippCaller, SippPhone, start_caller
from tests.e2e.stack import wait_until
from tests.e2e.supervised import alive
from tests.e2e.test_fleet_queue import STRAIGHT_TO_QUEUE
from tests.e2e.test_ivr_workers import (
    Start,
    _all_logs,
    _ccr,
    _log,
    _metric,
    _worker_health,
    _workers,
    _workers_up,
)

pytestmark = pytest.mark.asterisk

LEGS_IN_WORKERS = {"LINE311_QUEUE_LEGS": "workers"}


def _records(sup: Any, call_ids: list[str]) -> list[dict[str, Any]] | None:
    got = [r for r in sup.stack.calls() if r["call_id"] in call_ids]
    return got if len(got) == len(call_ids) and all(r.get("queue_leg") for r in got) else None


def test_given_queue_legs_in_workers_when_callers_ask_for_a_ccr_then_they_stay_in_their_worker_and_are_served_in_order(
    supervised_run: Start, tmp_path: Path
) -> None:
    sup = _workers(tmp_path, supervised_run, STRAIGHT_TO_QUEUE, extra_env=LEGS_IN_WORKERS)
    s = sup.settings
    callers: list[SippCaller] = []
    phone: SippPhone | None = None
    try:
        _workers_up(sup)
        for n in range(4):  # they wait: no CCR yet
            callers.append(start_caller(tmp_path / f"caller{n}", s.sip_port, "311", hold_ms=60_000))
            wait_until(
                lambda n=n: len(sup.queue_log_ids("ENTERQUEUE")) == n + 1,
                30,
                f"caller {n} in the queue",
            )
        entered = sup.queue_log_ids("ENTERQUEUE")
        queued = [_metric(sup, k, "line311_worker_queued_calls") for k in (1, 2)]
        handed = [_metric(sup, k, "line311_worker_calls_handed_off_total") for k in (1, 2)]
        assert sum(queued) == 4, (queued, handed)
        assert sum(handed) == 0, (queued, handed)
        controller = _log(sup, "controller.log")
        assert "call taken over" not in controller  # no caller was moved to the controller

        phone = _ccr(sup, tmp_path, talk_ms=800)
        wait_until(
            lambda: len(sup.queue_log_ids("CONNECT")) == 4, 90, "four callers served", step=0.3
        )
        assert sup.queue_log_ids("CONNECT") == entered  # in the order they entered
        for record in wait_until(lambda: _records(sup, entered), 60, "the records", step=0.5):
            assert record["outcome"] == "handled", record
            leg = record["queue_leg"]
            assert leg["agent_id"] == "agent1", record
            assert leg["talk_seconds"] > 0, record
            assert [o["agent_id"] for o in leg["offers"]] == ["agent1"], record
            assert record["path"], record  # the IVR half, from the same worker
        workers = _log(sup, "ivr-worker-1.log") + _log(sup, "ivr-worker-2.log")
        assert workers.count("answered by agent1") == 4  # the legs ran in the workers
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        for caller in callers:
            caller.kill()
        if phone is not None:
            phone.stop()


def test_given_queue_legs_in_workers_when_the_controller_is_killed_while_callers_wait_then_they_keep_their_places(
    supervised_run: Start, tmp_path: Path
) -> None:
    sup = _workers(tmp_path, supervised_run, STRAIGHT_TO_QUEUE, extra_env=LEGS_IN_WORKERS)
    s = sup.settings
    callers: list[SippCaller] = []
    phone: SippPhone | None = None
    try:
        _workers_up(sup)
        for n in range(3):
            callers.append(start_caller(tmp_path / f"caller{n}", s.sip_port, "311", hold_ms=90_000))
            wait_until(
                lambda n=n: len(sup.queue_log_ids("ENTERQUEUE")) == n + 1,
                30,
                f"caller {n} in the queue",
            )
        entered = sup.queue_log_ids("ENTERQUEUE")
        victim = int(sup.processes()["controller"]["pid"])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not alive(victim), 5, "the controller to die")
        wait_until(
            lambda: "in line again for" in _log(sup, "controller.log") or None,
            30,
            "the new controller hearing the workers' callers",
        )
        assert all(c.proc.poll() is None for c in callers)  # nobody got a BYE
        phone = _ccr(sup, tmp_path, talk_ms=800)
        wait_until(
            lambda: len(sup.queue_log_ids("CONNECT")) == 3, 90, "three callers served", step=0.3
        )
        assert sup.queue_log_ids("CONNECT") == entered  # their places kept
        for record in wait_until(lambda: _records(sup, entered), 60, "the records", step=0.5):
            assert record["outcome"] == "handled", record
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        for caller in callers:
            caller.kill()
        if phone is not None:
            phone.stop()


def test_given_queue_legs_in_workers_when_a_worker_is_killed_while_its_callers_wait_then_they_keep_their_places(
    supervised_run: Start, tmp_path: Path
) -> None:
    sup = _workers(tmp_path, supervised_run, STRAIGHT_TO_QUEUE, extra_env=LEGS_IN_WORKERS)
    s = sup.settings
    callers: list[SippCaller] = []
    phone: SippPhone | None = None
    try:
        _workers_up(sup)
        for n in range(4):
            callers.append(start_caller(tmp_path / f"caller{n}", s.sip_port, "311", hold_ms=90_000))
            wait_until(
                lambda n=n: len(sup.queue_log_ids("ENTERQUEUE")) == n + 1,
                30,
                f"caller {n} in the queue",
            )
        entered = sup.queue_log_ids("ENTERQUEUE")
        queued = {k: _metric(sup, k, "line311_worker_queued_calls") for k in (1, 2)}
        k = max(queued, key=lambda w: queued[w])
        victim = int(sup.processes()[f"ivr-worker-{k}"]["pid"])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not alive(victim), 5, "the worker to die")

        def back() -> bool:
            health = _worker_health(sup, k)
            if health is None or not health["ari_connected"]:
                return False
            return _metric(sup, k, "line311_worker_queued_calls") == queued[k]

        wait_until(back, 30, "the worker back with its callers")
        assert all(c.proc.poll() is None for c in callers)  # nobody got a BYE
        phone = _ccr(sup, tmp_path, talk_ms=800)
        wait_until(
            lambda: len(sup.queue_log_ids("CONNECT")) == 4, 90, "four callers served", step=0.3
        )
        assert sup.queue_log_ids("CONNECT") == entered  # their places kept
        for record in wait_until(lambda: _records(sup, entered), 60, "the records", step=0.5):
            assert record["outcome"] == "handled", record
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_all_logs(sup)}") from None
    finally:
        for caller in callers:
            caller.kill()
        if phone is not None:
            phone.stop()
