"""One controller, two Asterisks behind Kamailio, one queue (`line311.ari.fleet`).

``line311 run --asterisks 2`` itself (the ``supervised_run`` fixture): Kamailio on the run's
SIP port, two real Asterisks, Redis, the CRM bridge and one controller holding an ARI
connection to each. Four SIPp CCR phones register with Kamailio; twenty SIPp callers dial 311
through Kamailio, whose dispatcher alternates them over the two Asterisks, and a flow that goes
straight to the one ``general`` queue puts them in line (issue 14's "Show it": 20 callers, 4
agents). The channel ids say which Asterisk took each call (each has its own systemname).

"Served in order" is read from the call records: each call's first offer (the moment the
router gave it to a CCR) follows the order the calls entered the queue. The queue_log's
CONNECT lines are written when a phone answers, and two phones ringing at once may answer in
either order, so they are compared as a set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.asterisk.fleet import asterisk_fleet, systemname
from line311.sim.sipp import SippCaller, SippPhone, start_agent, start_caller
from tests.e2e.stack import wait_until
from tests.e2e.supervised import Desk, Supervised

pytestmark = pytest.mark.asterisk

Start = Callable[..., Supervised]

CALLERS = 20
AGENTS = ("agent1", "agent2", "agent3", "agent4")
STRAIGHT_TO_QUEUE = """\
flow: straight-to-queue
version: 1
start: representative
nodes:
  representative: {kind: queue, topic: general}
"""


def _server(call_id: str, names: list[str]) -> str:
    return next(name for name in names if call_id.startswith(f"{name}-"))


def test_given_two_asterisks_behind_kamailio_when_callers_land_on_both_then_one_queue_serves_them_in_order(
    supervised_run: Start, tmp_path: Path
) -> None:
    flow = tmp_path / "straight-to-queue.yaml"
    flow.write_text(STRAIGHT_TO_QUEUE)
    started = time.time()
    sup = supervised_run(flow, queue=True, asterisks=2)
    s = sup.settings
    names = [systemname(one) for one in asterisk_fleet(s)]
    phones: list[SippPhone] = []
    callers: list[SippCaller] = []
    try:
        desk = Desk(sup)
        for agent in AGENTS:
            phones.append(
                start_agent(  # registers with Kamailio: reachable from either Asterisk
                    tmp_path / agent,
                    s.sip_port,
                    agent,
                    s.agent_password.get_secret_value(),
                    answer_ms=200,
                    talk_ms=1500,
                )
            )
        # agent1 alone first: it takes the first two callers, one from each Asterisk (the
        # dispatcher alternates); with all CCRs in from the start each might keep to one
        # server, since CCRs take callers in turn
        desk.post("/agents/agent1/login")
        for n in range(CALLERS):
            callers.append(start_caller(tmp_path / f"caller{n}", s.sip_port, "311", hold_ms=60_000))
            # pacing, not a wait: arrivals 0.4 s apart are the scenario (a stable FIFO order)
            time.sleep(0.4)
        wait_until(lambda: len(sup.queue_log_ids("CONNECT")) >= 2, 30, "agent1's two callers")
        for agent in AGENTS[1:]:
            desk.post(f"/agents/{agent}/login")
        wait_until(
            lambda: len(sup.queue_log_ids("CONNECT")) == CALLERS,
            60,
            f"all {CALLERS} callers connected to a CCR",
            step=0.3,
        )
        results = [c.wait(timeout=30) for c in callers]

        entered = sup.queue_log_ids("ENTERQUEUE")
        assert len(entered) == CALLERS, entered  # nobody heard the apology instead
        # Kamailio alternated the calls over both Asterisks, and one queue held them all
        per_server = {name: [c for c in entered if _server(c, names) == name] for name in names}
        assert {n: len(ids) for n, ids in per_server.items()} == dict.fromkeys(names, CALLERS // 2)
        # ... every one of them connected to a CCR (the order is checked on the records below)
        assert sorted(sup.queue_log_ids("CONNECT")) == sorted(entered)
        # a CCR's calls came from both servers (the CCR leg is dialled from the caller's
        # Asterisk, through Kamailio)
        served: dict[str, set[str]] = {}
        for record in sup.queue_log():
            if record.event == "CONNECT":
                served.setdefault(record.agent, set()).add(_server(record.call_id, names))
        assert set(served) == set(AGENTS), served
        assert served["agent1"] == set(names), served
        for result in results:
            assert result.final_status == 200
        # every REST call found its server: none was refused for want of one
        log = (s.state_dir / "controller.log").read_text(errors="replace")
        assert "no Asterisk of the fleet" not in log
        assert "outside any call" not in log

        # one call record each, answered by a CCR
        def records() -> dict[str, dict[str, Any]] | None:
            got = {r["call_id"]: r for r in sup.stack.calls() if r["call_id"] in entered}
            return got if len(got) == CALLERS else None

        stored = wait_until(records, 30, "a call record for every caller", step=0.5)
        for call_id, record in stored.items():
            leg = record["queue_leg"]
            assert (record["outcome"], leg["end"]) == ("handled", "answered"), (call_id, record)
        # served strictly in the order they entered the one queue, whichever server held them:
        # each call's first offer comes no earlier than that of the call that entered before it
        first_offers = [
            datetime.fromisoformat(stored[c]["queue_leg"]["offers"][0]["at"]) for c in entered
        ]
        assert first_offers == sorted(first_offers), list(zip(entered, first_offers, strict=True))
        # the SL report counts every one of them, offered and answered
        report = httpx.get(
            f"http://127.0.0.1:{s.http_port}/api/desk/reports/sl",
            params={  # reports run over whole quarter-hours
                "from": str(int(started // 900) * 900),
                "to": str((int(time.time() // 900) + 1) * 900),
                "interval": "0",
            },
            headers=desk.headers,
            timeout=10,
        )
        assert report.status_code == 200, report.text
        total = next(r for r in report.json()["rows"] if r["queue"] == "general")
        assert (total["offered"], total["answered"]) == (CALLERS, CALLERS), total
        # /metrics shows the edge's counters, read from Kamailio: nothing failed over here
        metrics = httpx.get(f"http://127.0.0.1:{s.http_port}/metrics", timeout=5).text
        node = s.sip_host  # the one Kamailio, by its host
        assert f'line311_edge_failovers_total{{node="{node}"}} 0.0' in metrics
        assert f'line311_edge_late_answers_total{{node="{node}"}} 0.0' in metrics
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        for caller in callers:
            caller.kill()
        for phone in phones:
            phone.stop()
