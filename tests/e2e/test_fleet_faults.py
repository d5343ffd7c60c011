"""One of two Asterisks dies under ``line311 run --asterisks 2`` (issue 14, point 4).

Four callers wait in the one queue, two on each Asterisk, no CCR signed in. Asterisk 2 is
killed (SIGKILL): the media of its two callers lived there, so those calls are over. The
supervisor starts it again; the controller's ARI connection to it comes back, its re-sync
finds the two channels gone and, since Asterisk 2 started after those calls did (its
``/asterisk/info``), ends them as lost with their media server: each gets its record, which
says ``media_server_lost`` (not a caller who gave up), and its one ABANDON line. The two
callers on Asterisk 1 never notice: they keep their place, a new caller joins behind them,
and when a CCR signs in the three are served in the order they entered.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from line311.asterisk.fleet import asterisk_fleet, systemname
from line311.kamailio.manager import KamailioManager
from line311.sim.sipp import SippCaller, SippPhone, start_agent, start_caller
from tests.e2e.stack import wait_until
from tests.e2e.supervised import Desk, Supervised, alive
from tests.e2e.test_fleet_queue import STRAIGHT_TO_QUEUE

pytestmark = pytest.mark.asterisk

Start = Callable[..., Supervised]


def test_given_callers_waiting_on_two_asterisks_when_one_is_killed_then_its_calls_end_recorded_and_the_others_are_served_in_order(
    supervised_run: Start, tmp_path: Path
) -> None:
    flow = tmp_path / "straight-to-queue.yaml"
    flow.write_text(STRAIGHT_TO_QUEUE)
    sup = supervised_run(flow, queue=True, asterisks=2)
    s = sup.settings
    first, second = (systemname(one) for one in asterisk_fleet(s))
    callers: list[SippCaller] = []
    phones: list[SippPhone] = []
    try:
        desk = Desk(sup)
        phones.append(
            start_agent(
                tmp_path / "agent1",
                s.sip_port,
                "agent1",
                s.agent_password.get_secret_value(),
                answer_ms=200,
                talk_ms=1500,
            )
        )
        for n in range(4):  # the dispatcher alternates: two on each Asterisk
            callers.append(start_caller(tmp_path / f"caller{n}", s.sip_port, "311", hold_ms=90_000))
            wait_until(
                lambda n=n: len(sup.queue_log_ids("ENTERQUEUE")) == n + 1,
                30,
                f"caller {n} in the queue",
            )
        entered = sup.queue_log_ids("ENTERQUEUE")
        lost = [c for c in entered if c.startswith(f"{second}-")]
        kept = [c for c in entered if c.startswith(f"{first}-")]
        assert (len(lost), len(kept)) == (2, 2), entered

        # Asterisk 2 dies; the supervisor starts it again and the controller reconnects
        victim = int(sup.processes()["asterisk-2"]["pid"])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not alive(victim), 5, "asterisk-2 to die")
        wait_until(
            lambda: (
                (p := sup.processes()["asterisk-2"])["restarts"] == 1 and p["state"] == "running"
            ),
            30,
            "the supervisor to start asterisk-2 again",
        )
        wait_until(sup.ari_up, 30, "the controller connected to both Asterisks again")

        # the two calls whose media died end lost with their server, each with its record
        wait_until(
            lambda: set(sup.queue_log_ids("ABANDON")) == set(lost), 30, "the lost calls ended"
        )
        log = (s.state_dir / "controller.log").read_text(errors="replace")
        for call_id in lost:
            assert f"call {call_id}: media server {second} restarted" in log, call_id
        assert not any(f"call {c}: media server" in log for c in kept)

        def records(ids: list[str]) -> dict[str, dict[str, Any]] | None:
            got = {r["call_id"]: r for r in sup.stack.calls() if r["call_id"] in ids}
            return got if len(got) == len(ids) else None

        ended = wait_until(lambda: records(lost), 30, "records of the lost calls", step=0.5)
        for call_id, record in ended.items():
            assert record["outcome"] == "media_server_lost", (call_id, record)
            assert record["queue_leg"]["end"] == "media_server_lost", (call_id, record)
            assert record["queue_leg"]["abandoned_at"] is None, (call_id, record)
            assert record["queue_leg"]["wait_seconds"] > 0, (call_id, record)

        # a new caller (on either Asterisk: the restarted one is back in the dispatcher's
        # rotation) joins behind the two still waiting on Asterisk 1
        callers.append(start_caller(tmp_path / "late", s.sip_port, "311", hold_ms=90_000))
        late = wait_until(lambda: sup.queue_log_ids("ENTERQUEUE")[4:] or None, 30, "the new caller")
        # a CCR signs in: the three are served in the order they entered
        desk.post("/agents/agent1/login")
        wait_until(
            lambda: len(sup.queue_log_ids("CONNECT")) == 3, 60, "three callers served", step=0.3
        )
        assert sup.queue_log_ids("CONNECT") == [*kept, *late]
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        for caller in callers:
            caller.kill()
        for phone in phones:
            phone.stop()


def test_given_a_caller_waiting_on_the_one_asterisk_when_it_is_killed_then_the_record_says_media_server_lost(
    supervised_run: Start, tmp_path: Path
) -> None:
    """The same with one Asterisk (one ARI client, no fleet): the supervisor starts it again,
    the controller's re-sync asks it when it started, and the call is recorded as lost."""
    flow = tmp_path / "straight-to-queue.yaml"
    flow.write_text(STRAIGHT_TO_QUEUE)
    sup = supervised_run(flow, queue=True)
    s = sup.settings
    caller = start_caller(tmp_path / "caller", s.sip_port, "311", hold_ms=90_000)
    try:
        wait_until(lambda: sup.queue_log_ids("ENTERQUEUE") or None, 30, "the caller in the queue")
        [call_id] = sup.queue_log_ids("ENTERQUEUE")
        victim = int(sup.processes()["asterisk"]["pid"])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not alive(victim), 5, "asterisk to die")
        wait_until(
            lambda: (p := sup.processes()["asterisk"])["restarts"] == 1 and p["state"] == "running",
            30,
            "the supervisor to start asterisk again",
        )
        wait_until(sup.ari_up, 30, "the controller connected to Asterisk again")
        wait_until(lambda: sup.queue_log_ids("ABANDON") == [call_id], 30, "the lost call ended")
        record = wait_until(
            lambda: next((r for r in sup.stack.calls() if r["call_id"] == call_id), None),
            30,
            "the record of the lost call",
            step=0.5,
        )
        assert record["outcome"] == "media_server_lost", record
        assert record["queue_leg"]["end"] == "media_server_lost", record
        log = (s.state_dir / "controller.log").read_text(errors="replace")
        assert f"call {call_id}: media server http" in log  # a single client: its base URL
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        caller.kill()


def test_given_two_asterisks_when_a_ccr_phone_dies_without_unregistering_then_kamailio_drops_it_and_its_ccr_waits_offline_until_it_registers_again(
    supervised_run: Start, tmp_path: Path
) -> None:
    """Behind Kamailio the phones register there, so Kamailio keeps them alive (usrloc's
    OPTIONS every agent_qualify_frequency, 2 s here) and drops a phone that stops answering
    (none answered for twice that, then usrloc's 10 s), and the controller reads its location
    table (every kamailio_registration_poll). agent1's phone is SIGKILLed (no un-REGISTER: a
    power cut) while agent1 is the only CCR signed in, and a caller comes at once. The offer
    reaches the dead phone through Kamailio, which answers 504 after 2 s without a reply: the
    phone could not be rung, so agent1 is held `unreachable`, not charged a miss. Once
    Kamailio has dropped the phone, the controller reads it gone and agent1 waits paused
    `phone-offline`, offered nothing; the phone's new REGISTER makes agent1 available at
    once (not after the doubling hold) to take the waiting caller."""
    flow = tmp_path / "straight-to-queue.yaml"
    flow.write_text(STRAIGHT_TO_QUEUE)
    sup = supervised_run(
        flow,
        queue=True,
        asterisks=2,
        extra_env={
            "LINE311_AGENT_QUALIFY_FREQUENCY": "2",
            "LINE311_AGENT_QUALIFY_TIMEOUT": "1",
            "LINE311_QUEUE_PHONE_STATE": "true",  # the phones' registrations, as shipped
            "LINE311_KAMAILIO_REGISTRATION_POLL": "0.5",
            # an unreachable hold far longer than the test: only the REGISTER can end it
            "LINE311_QUEUE_UNREACHABLE_HOLD": "120",
        },
    )
    s = sup.settings
    kamailio = KamailioManager(s)
    password = s.agent_password.get_secret_value()
    phones: list[SippPhone] = []
    caller: SippCaller | None = None

    def registered(agent: str) -> bool:
        return "Contact" in kamailio.rpc("ul.lookup", "location", agent)

    mark = 0  # queue_log lines before agent1 is available are not this story's

    def agent1_lines() -> list[tuple[str, str]]:
        return [
            (r.event, r.data[0] if r.data else "")
            for r in sup.queue_log()[mark:]
            if r.agent == "agent1" and r.event in ("PAUSEALL", "UNPAUSEALL", "RINGNOANSWER")
        ]

    try:
        desk = Desk(sup)
        for agent in ("agent1", "agent2"):
            phones.append(start_agent(tmp_path / agent, s.sip_port, agent, password, talk_ms=1500))
        wait_until(lambda: registered("agent1") and registered("agent2"), 10, "both registered")
        desk.post("/agents/agent1/login")
        # a login before the controller's next read of the table is paused phone-offline,
        # then made available by that read: either way, the story starts once available
        wait_until(lambda: desk.agent("agent1")["state"] == "available", 10, "agent1 in")
        mark = len(sup.queue_log())
        phones[0].stop()  # SIGKILL: no un-REGISTER
        caller = start_caller(tmp_path / "caller", s.sip_port, "311", hold_ms=90_000)
        # the dead phone, still in Kamailio's table: its 504 after 2 s without a reply
        wait_until(lambda: ("PAUSEALL", "unreachable") in agent1_lines(), 30, "agent1 held")
        (ring,) = [int(ms) for event, ms in agent1_lines() if event == "RINGNOANSWER"]
        assert ring >= 1500, agent1_lines()
        # Kamailio drops the phone; the controller reads it gone: offline, not just held
        wait_until(lambda: not registered("agent1"), 40, "Kamailio to drop agent1's phone")
        wait_until(
            lambda: desk.agent("agent1")["pause_reason"] == "phone-offline",
            5,
            "agent1 paused phone-offline",
            step=0.2,
        )
        assert registered("agent2")  # the phone that answers its OPTIONS stays
        assert sup.queue_log_ids("CONNECT") == []  # the caller still waits
        # the phone comes back: agent1 takes the caller long before the 120-s hold ends
        phones.append(start_agent(tmp_path / "agent1-again", s.sip_port, "agent1", password,
                                  talk_ms=1500))  # fmt: skip
        wait_until(lambda: len(sup.queue_log_ids("CONNECT")) == 1, 15, "the caller connected")
        (call_id,) = sup.queue_log_ids("ENTERQUEUE")
        assert [r.agent for r in sup.queue_log() if r.event == "CONNECT"] == ["agent1"]
        lines = agent1_lines()
        # one failed dial (the 504), never a `no-answer` pause nor a dial to the dropped phone
        assert [event for event, _ in lines] == [
            "RINGNOANSWER", "PAUSEALL", "PAUSEALL", "UNPAUSEALL",
        ], lines  # fmt: skip
        assert [reason for event, reason in lines if event == "PAUSEALL"] == [
            "unreachable",
            "phone-offline",
        ]
        log = (s.state_dir / "controller.log").read_text(errors="replace")
        assert "agent1's phone could not be rung" in log
        assert "agent agent1's phone is no longer registered with Kamailio" in log
        assert "agent agent1's phone registered with Kamailio" in log
        record = wait_until(
            lambda: next((r for r in sup.stack.calls() if r["call_id"] == call_id), None),
            30,
            "the call's record",
            step=0.5,
        )
        offers = [(o["agent_id"], o["answered"], o.get("unreachable", False))
                  for o in record["queue_leg"]["offers"]]  # fmt: skip
        assert offers == [("agent1", False, True), ("agent1", True, False)], offers
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sup.logs()}") from None
    finally:
        if caller is not None:
            caller.kill()
        for phone in phones:
            phone.stop()
