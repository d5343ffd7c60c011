"""Issue 2, end to end: real Asterisk, real SIPp callers (RTP and all), real line311 processes.

Each test reads as a sentence; together they show that 311 and 212-NEW-YORK are answered by
the controller and hear the greeting, that the call record is readable with the CLI and
carries no trace of the caller's number, that other numbers never reach Stasis, that callers
hear an apology while the controller is down, and that the controller reconnects by itself
after Asterisk dies.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.ari.translate import APP_EVENTS
from line311.sim.sipp import start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import greeting_only_flow, record_for, running_stack
from tests.e2e.stack import AriObserver, Stack, wait_until

pytestmark = pytest.mark.asterisk

CALLER = "2125550123"  # the resident's number: must never appear anywhere we store or log
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    flow = greeting_only_flow(workdir)  # issue 2: greeting, hang up
    with running_stack(asterisk_instance, workdir, {"LINE311_FLOW_FILE": str(flow)}) as s:
        yield s


def call(tmp_path: Path, instance: AsteriskInstance, service: str, **kw: Any):  # type: ignore[no-untyped-def]
    caller = start_caller(
        tmp_path / f"sipp-{next(_numbers)}", instance.sip_port, service, from_user=CALLER, **kw
    )
    return caller.wait(timeout=60)


def stasis_entries(observer: AriObserver) -> list[str]:
    """Channels that ran the dialplan's Stasis() application (an observer app is not told
    about StasisStart of another app, but it sees every channel's dialplan steps)."""
    return [
        e["channel"]["id"]
        for e in observer.snapshot()
        if e.get("type") == "ChannelDialplan" and e.get("dialplan_app") == "Stasis"
    ]


def playbacks(observer: AriObserver, state: str | None = None) -> list[dict[str, Any]]:
    return [
        e["playback"]
        for e in observer.snapshot()
        if e.get("type") == "PlaybackFinished"
        and (state is None or e["playback"]["state"] == state)
    ]


@pytest.mark.parametrize("dialed", ["311", "2126399675"])
def test_given_the_stack_when_a_resident_dials_a_311_number_then_the_controller_answers_plays_the_greeting_and_records_the_call(
    stack: Stack,
    asterisk_instance: AsteriskInstance,
    observer: AriObserver,
    tmp_path: Path,
    dialed: str,
) -> None:
    known = {r["call_id"] for r in stack.calls()}

    result = call(tmp_path, asterisk_instance, dialed, hold_ms=30000)

    assert result.final_status == 200
    assert len(stasis_entries(observer)) == 1
    assert result.remote_hung_up, "line311 should hang up after the greeting"
    done = [p for p in playbacks(observer, "done") if p["media_uri"].endswith("/en/greeting")]
    assert done, f"no greeting PlaybackFinished(done): {playbacks(observer)}"
    rec = record_for(stack, dialed, known)
    assert rec["outcome"] == "completed"
    assert rec["answered_at"]
    assert rec["ended_at"]
    assert rec["caller_hash"]
    assert CALLER not in rec["caller_hash"]
    shown = stack.cli("calls", "show", rec["call_id"], "--json").stdout
    assert dialed in shown
    # the caller's number is nowhere: not in the CLI, the database, nor any log line
    assert CALLER not in shown
    assert CALLER not in stack.cli("calls", "list", "--json").stdout
    assert CALLER.encode() not in (stack.workdir / "line311.db").read_bytes()
    assert CALLER not in stack.logs()


def test_given_the_stack_then_asterisk_sends_the_controller_only_the_events_it_acts_on(
    stack: Stack, asterisk_instance: AsteriskInstance
) -> None:
    """The controller set its application's event filter on connect (`APP_EVENTS`): Asterisk
    says so, and the calls above went through with it."""
    app = httpx.get(
        f"{asterisk_instance.ari_url}/ari/applications/{asterisk_instance.settings.ari_app}",
        auth=(asterisk_instance.ari_user, asterisk_instance.ari_password),
        timeout=10,
    )
    assert app.status_code == 200, app.text
    allowed = {item["type"] for item in app.json()["events_allowed"]}
    assert allowed == set(APP_EVENTS)
    assert "ChannelVarset" not in allowed


def test_given_the_stack_when_a_resident_dials_another_number_then_the_call_is_refused_and_never_reaches_stasis(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    result = call(tmp_path, asterisk_instance, "5551234", hold_ms=2000)

    assert result.final_status == 404
    assert [e for e in observer.snapshot() if e.get("type") == "ChannelCreated"], "no call seen"
    assert stasis_entries(observer) == []
    assert all(r["dialed_number"] != "5551234" for r in stack.calls())


def test_given_the_controller_is_stopped_when_a_resident_calls_then_they_hear_an_apology(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    stack.controller.stop()
    try:
        result = call(tmp_path, asterisk_instance, "311", hold_ms=30000)

        assert result.final_status == 200
        assert result.remote_hung_up
        apology = [
            e
            for e in observer.snapshot()
            if e.get("type") == "ChannelDialplan"
            and e.get("dialplan_app") == "Playback"
            and "apology" in e.get("dialplan_app_data", "")
        ]
        assert apology, "the dialplan should play the apology when Stasis() fails"
    finally:
        stack.start_controller()


def test_given_the_controller_restarting_when_a_resident_calls_then_the_call_rings_until_it_is_back_and_reaches_the_ivr(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    """A call that arrives while no controller is connected (a restart takes a few seconds)
    is not lost: the dialplan offers it again every second, and once the controller is back
    the resident hears the IVR, never the apology."""
    known = {r["call_id"] for r in stack.calls()}
    stack.controller.stop()
    try:
        caller = start_caller(
            tmp_path / "sipp-restart", asterisk_instance.sip_port, "311", from_user=CALLER,
            hold_ms=30000,
        )  # fmt: skip

        def offered_twice() -> str | None:
            entries = stasis_entries(observer)
            return next((c for c in entries if entries.count(c) >= 2), None)

        channel = wait_until(offered_twice, 10, "the call offered to line311 a second time")
    finally:
        stack.start_controller()
    result = caller.wait(timeout=60)
    assert result.final_status == 200
    assert result.remote_hung_up  # the greeting-only flow's hang-up, after the greeting
    rec = record_for(stack, "311", known, timeout=30)
    assert rec["call_id"] == channel
    assert rec["outcome"] != "failed", rec
    assert not [
        e
        for e in observer.snapshot()
        if e.get("type") == "ChannelDialplan"
        and e.get("dialplan_app") == "Playback"
        and "apology" in e.get("dialplan_app_data", "")
        and e.get("channel", {}).get("id") == channel
    ]
    assert [
        e
        for e in observer.snapshot()
        if e.get("type") == "PlaybackStarted"
        and e["playback"]["target_uri"] == f"channel:{channel}"
        and "greeting" in e["playback"]["media_uri"]
    ], "the IVR's greeting"


def test_given_a_running_stack_when_asterisk_dies_and_comes_back_then_the_controller_reconnects_and_answers_the_next_call(
    stack: Stack, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    assert stack.health()
    asterisk_instance.kill()
    wait_until(lambda: stack.health() is None, 10, "the controller to notice ARI is gone")
    asterisk_instance.start()
    wait_until(stack.health, 30, "the controller to reconnect by itself")
    obs = AriObserver(
        asterisk_instance.ari_url, asterisk_instance.ari_user, asterisk_instance.ari_password
    )
    try:
        known = {r["call_id"] for r in stack.calls()}
        result = call(tmp_path, asterisk_instance, "311", hold_ms=30000)
        assert result.final_status == 200
        assert result.remote_hung_up
        # the observer's socket may hear the greeting's end after SIPp has seen the BYE
        wait_until(
            lambda: [p for p in playbacks(obs, "done") if p["media_uri"].endswith("/en/greeting")],
            10,
            "the observer to see the greeting played to its end",
        )
        assert record_for(stack, "311", known)["outcome"] == "completed"
    finally:
        obs.close()
