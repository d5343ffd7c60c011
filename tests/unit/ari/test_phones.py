"""The CCR phones' registrations (`line311.ari.phones.PhoneWatch`), against a scripted ARI."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pytest

from line311.ari.errors import AriUnreachable
from line311.ari.phones import PhoneWatch
from tests.fixtures.phone_desk import RecordingDesk


class ScriptedAri:
    app = "line311"

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states
        self.subscribed: list[list[str]] = []
        self.during_read: list[dict[str, object]] = []
        self.watch: PhoneWatch | None = None
        self.fail = False

    async def subscribe(self, app: str, sources: Iterable[str]) -> None:
        assert app == "line311"
        self.subscribed.append(list(sources))

    async def endpoint_states(self) -> dict[str, str]:
        if self.fail:
            raise AriUnreachable("Asterisk went away")
        for event in self.during_read:  # events that come while the read is under way
            assert self.watch is not None
            self.watch.on_event(event)
        return dict(self.states)


def changed(name: str, state: str) -> dict[str, object]:
    return {"type": "DeviceStateChanged", "device_state": {"name": name, "state": state}}


def roster(n: int) -> dict[str, str]:
    return {f"PJSIP/agent{i}": f"agent{i}" for i in range(1, n + 1)}


async def test_given_a_connect_then_every_phone_is_subscribed_in_chunks_and_its_state_told() -> (
    None
):
    ari = ScriptedAri({f"PJSIP/agent{i}": "offline" if i % 2 else "online" for i in range(1, 121)})
    ari.states["PJSIP/trunk"] = "online"  # not a CCR phone
    desk = RecordingDesk()
    watch = PhoneWatch(ari, desk, roster(120))
    await watch.sync()
    assert [len(chunk) for chunk in ari.subscribed] == [50, 50, 20]
    assert ari.subscribed[0][0] == "deviceState:PJSIP/agent1"
    assert len(desk.told) == 120
    assert ("agent1", False) in desk.told
    assert ("agent2", True) in desk.told
    assert watch.states.online("agent1") is False
    assert watch.states.online("agent2") is True
    assert (watch.states.count(True), watch.states.count(False)) == (60, 60)
    await watch.sync()  # a reconnect: nothing new, nothing told
    assert len(desk.told) == 120


async def test_given_device_state_changes_then_only_a_change_of_registration_reaches_the_desk() -> (
    None
):
    desk = RecordingDesk()
    watch = PhoneWatch(ScriptedAri({}), desk, roster(2))
    for state in ("NOT_INUSE", "RINGING", "INUSE", "NOT_INUSE", "UNAVAILABLE", "INVALID", "ONHOLD"):
        watch.on_event(changed("PJSIP/agent1", state))
    assert desk.told == [("agent1", True), ("agent1", False), ("agent1", True)]
    assert watch.states.changes == 3


@pytest.mark.parametrize(
    "event",
    [
        {"type": "DeviceStateChanged"},
        {"type": "DeviceStateChanged", "device_state": "PJSIP/agent1"},
        {"type": "DeviceStateChanged", "device_state": {"name": 7, "state": "UNAVAILABLE"}},
        {"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/agent1", "state": None}},
        changed("PJSIP/agent99", "UNAVAILABLE"),  # not on the roster
        changed("Stasis:whatever", "INUSE"),
    ],
)
def test_given_a_malformed_or_foreign_event_then_it_is_ignored(event: dict[str, object]) -> None:
    desk = RecordingDesk()
    PhoneWatch(ScriptedAri({}), desk, roster(1)).on_event(event)
    assert desk.told == []


async def test_given_an_event_while_the_endpoints_are_read_then_the_event_wins() -> None:
    ari = ScriptedAri({"PJSIP/agent1": "offline", "PJSIP/agent2": "offline"})
    desk = RecordingDesk()
    watch = PhoneWatch(ari, desk, roster(2))
    ari.watch = watch
    ari.during_read = [changed("PJSIP/agent1", "NOT_INUSE")]  # registered after the read
    await watch.sync()
    assert sorted(desk.told) == [("agent1", True), ("agent2", False)]


async def test_given_asterisk_away_during_the_sync_then_it_is_logged_and_nothing_is_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = ScriptedAri({"PJSIP/agent1": "offline"})
    ari.fail = True
    desk = RecordingDesk()
    watch = PhoneWatch(ari, desk, roster(1))
    with caplog.at_level(logging.WARNING, logger="line311.ari.phones"):
        await watch.sync()
    assert desk.told == []
    assert "not read" in caplog.text
    watch.on_event(changed("PJSIP/agent1", "UNAVAILABLE"))  # events still count afterwards
    assert desk.told == [("agent1", False)]


def test_given_a_desk_that_refuses_then_the_refusal_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    desk = RecordingDesk()
    watch = PhoneWatch(ScriptedAri({}), desk, {"PJSIP/ghost": "ghost"})
    with caplog.at_level(logging.WARNING, logger="line311.ari.phones"):
        watch.on_event(changed("PJSIP/ghost", "UNAVAILABLE"))
    assert desk.told == []
    assert "not applied" in caplog.text


async def test_given_a_roster_endpoint_asterisk_does_not_have_then_its_ccr_is_offline_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = ScriptedAri({"PJSIP/agent1": "online"})
    desk = RecordingDesk()
    devices = roster(2) | {"Local/7000@agents": "agent9"}
    with caplog.at_level(logging.WARNING, logger="line311.ari.phones"):
        await PhoneWatch(ari, desk, devices).sync()
    assert sorted(desk.told) == [("agent1", True), ("agent2", False)]  # agent9: cannot tell
    assert "PJSIP/agent2" in caplog.text
    assert "does not have" in caplog.text
