"""Queued callers stay in their IVR worker; the controller only decides (issue 13 goal 4).

``line311 run`` with ``ivr_workers = 2`` and ``queue_legs = workers`` on a real Asterisk and
Redis, SIPp callers and a SIPp CCR phone: a caller who asks for a representative is not
moved to the controller. Their worker plays the music, rings the CCR, bridges them and writes
the record; the controller's one router, told over the desk link, serves every worker's
callers in the order they entered. A controller or a worker killed (SIGKILL) while callers
wait comes back; the callers keep their places and are served in the same order.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from line311.sim.sipp import SippCaller, SippPhone, start_caller
from tests.e2e.stack import wait_until
from tests.e2e.supervised import Supervised, alive
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
def _line(supervised_run: Start, tmp_path: Path) -> Iterator[_Line]:
    sup = _workers(tmp_path, supervised_run, STRAIGHT_TO_QUEUE, extra_env=LEGS_IN_WORKERS)
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
