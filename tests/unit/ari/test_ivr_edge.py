"""The IVR edge: content -> info, reloads, the session factory and the command handlers,
against a fake ARI (with real waiter semantics) and a fake CRM."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from line311.ari.controller import FunctionClock
from line311.ari.errors import AriServerError
from line311.ari.handoffs import dial_string, sr_status_code
from line311.ari.ivr_edge import (
    IvrEdge,
    Reloadable,
    content_registry,
    flow_registry,
    flows_router,
)
from line311.ari.ivr_kind import MAX_PATH_BYTES, EdgeSession
from line311.call.commands import Enqueue, Play, SrLookup, Transfer
from line311.call.events import Answered, SrLookupResult
from line311.config import REPO_ROOT
from line311.crm_bridge.errors import CrmUnavailable
from line311.ivr.alerts import PushedAlert
from line311.ivr.catalogue import load_catalogue
from line311.ivr.content import ContentError, info_for
from line311.ivr.flow import default_flow_path
from line311.ivr.session import CallSession
from line311.ivr.validate import load_content_file, parse_content

PREFIX = "sound:/var/lib/line311/sounds"
CATALOGUE = load_catalogue(REPO_ROOT / "sounds" / "catalogue")

CONTENT = """
version: 3
holidays:
  - {date: 2026-07-03, name: independence_day_observed}
  - {date: 2026-09-07, name: labor_day}
alternate_side_parking:
  weekdays: [sunday]
  holidays: true
  dates:
    - {date: 2026-06-10, until: 2026-06-11, reason: snow, say: [info_unavailable]}
collection:
  holidays: true
schools:
  weekdays: [saturday, sunday]
  dates:
    - {date: 2026-06-12, reason: chancellors_day}
"""


# ---------------------------------------------------------------------------- fakes
class FakeAri:
    """Records REST calls; `emit` resolves `expect` waiters like the real client does."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.waiters: list[tuple[frozenset[str], Callable[[dict[str, Any]], bool], Any]] = []
        self.fail: dict[str, Exception] = {}
        self.on_originate: Callable[[str], None] | None = None
        self.on_play: Callable[[str, str], None] | None = None

    @contextlib.asynccontextmanager
    async def expect(
        self,
        type: str | Iterable[str],  # noqa: A002
        *,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> AsyncIterator[asyncio.Future[dict[str, Any]]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiter = (frozenset([type] if isinstance(type, str) else type), predicate, future)
        self.waiters.append(waiter)  # type: ignore[arg-type]
        try:
            yield future
        finally:
            self.waiters.remove(waiter)  # type: ignore[arg-type]
            future.cancel()

    def emit(self, event: dict[str, Any]) -> None:
        for types, predicate, future in list(self.waiters):
            if event["type"] in types and not future.done() and predicate(event):
                future.set_result(event)

    def _do(self, *call: Any) -> None:
        self.calls.append(call)
        exc = self.fail.get(call[0])
        if exc is not None:
            raise exc

    async def originate(self, endpoint: str, channel_id: str, **kw: Any) -> None:
        self._do("originate", endpoint, channel_id, kw.get("app_args"))
        if self.on_originate is not None:
            asyncio.get_running_loop().call_soon(self.on_originate, channel_id)

    async def play(self, channel_id: str, media: Any, playback_id: str, lang: Any = None) -> None:
        self._do("play", channel_id, media)
        if self.on_play is not None:
            asyncio.get_running_loop().call_soon(self.on_play, channel_id, playback_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._do("hangup", channel_id)

    async def ring(self, channel_id: str) -> None:
        self._do("ring", channel_id)

    async def ring_stop(self, channel_id: str) -> None:
        self._do("ring_stop", channel_id)

    async def create_bridge(self, bridge_id: str, type: str = "mixing") -> None:  # noqa: A002
        self._do("create_bridge", bridge_id, type)

    async def add_channel(self, bridge_id: str, channel_id: Any) -> None:
        self._do("add_channel", bridge_id, list(channel_id))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self._do("destroy_bridge", bridge_id)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeCrm:
    def __init__(self, answer: Any = None, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.asked: list[str] = []

    async def lookup_sr(self, sr_number: str) -> dict[str, Any] | None:
        self.asked.append(sr_number)
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


def channel(kind: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "channel": {"id": cid}, **extra}


def make_edge(
    tmp_path: Path,
    *,
    ari: FakeAri | None = None,
    crm: FakeCrm | None = None,
    content: str = CONTENT,
    wall: float = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC).timestamp(),
    **kw: Any,
) -> IvrEdge:
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(default_flow_path().read_text())
    content_file = tmp_path / "content.yaml"
    content_file.write_text(content)
    return IvrEdge(
        flows=flow_registry(flow_file, lambda: CATALOGUE),
        content=content_registry(content_file, lambda: CATALOGUE),
        ari=ari or FakeAri(),
        crm=crm or FakeCrm(),
        sounds_uri_prefix=PREFIX,
        clock=FunctionClock(lambda: wall),
        **kw,
    )


# ---------------------------------------------------------------------------- content
@pytest.mark.parametrize(
    ("day", "asp", "schools"),
    [
        ("2026-06-09", ["asp_in_effect"], ["schools_open"]),  # a Tuesday
        ("2026-06-10", ["asp_suspended", "info_unavailable"], ["schools_open"]),
        ("2026-06-11", ["asp_suspended", "info_unavailable"], ["schools_open"]),  # until
        ("2026-06-12", ["asp_in_effect"], ["schools_closed"]),
        ("2026-06-13", ["asp_in_effect"], ["schools_closed"]),  # Saturday
        ("2026-06-14", ["asp_suspended"], ["schools_closed"]),  # Sunday
        ("2026-07-03", ["asp_suspended"], ["schools_open"]),  # holiday, schools ignore them
    ],
)
def test_given_content_when_asked_for_a_day_then_each_section_says_its_rule_for_that_day(
    day: str, asp: list[str], schools: list[str]
) -> None:
    info = info_for(parse_content(CONTENT), dt.date.fromisoformat(day))

    assert info["asp_today"] == asp
    assert info["school_closures"] == schools


def test_given_content_when_asked_then_collection_follows_holidays_and_offices_default_to_open() -> (
    None
):
    content = parse_content(CONTENT)

    assert info_for(content, dt.date(2026, 7, 3))["collection"] == ["collection_delayed"]
    assert info_for(content, dt.date(2026, 7, 6))["collection"] == ["collection_on_schedule"]
    assert info_for(content, dt.date(2026, 7, 3))["office_closures"] == ["offices_open"]


def test_given_holidays_when_asked_then_the_schedule_names_the_next_one_on_or_after_today() -> None:
    content = parse_content(CONTENT)

    assert info_for(content, dt.date(2026, 7, 3))["holiday_schedule"] == [
        "holiday_next",
        "say:date:2026-07-03",
    ]
    assert info_for(content, dt.date(2026, 7, 4))["holiday_schedule"][1] == "say:date:2026-09-07"
    assert "holiday_schedule" not in info_for(content, dt.date(2027, 1, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: x", "'version' must be an integer"),
        ("version: 1\nparking: {}", "unknown key(s): parking"),
        ("version: 1\nholidays: [{date: 2026-13-01, name: x}]", "dates are YYYY-MM-DD"),
        ("version: 1\nschools: {weekdays: [funday]}", "'funday' is not a day name"),
        (
            "version: 1\nschools: {dates: [{date: 2026-01-02, until: 2026-01-01, reason: x}]}",
            "'until' is before 'date'",
        ),
        ("version: 1\nschools: {dates: [{date: 2026-01-02}]}", "missing reason"),
        (
            "version: 1\nschools: {dates: [{date: 2026-01-02, reason: x, say: [nope]}]}",
            "unknown prompt id 'nope'",
        ),
        ("version: 1\nschools: {holidays: maybe}", "schools.holidays must be true or false"),
    ],
)
def test_given_a_bad_content_file_when_parsed_then_the_error_names_the_problem(
    text: str, message: str
) -> None:
    with pytest.raises(ContentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_content(text, catalogue=CATALOGUE)


def test_given_the_shipped_content_file_when_loaded_then_it_validates_against_the_catalogue() -> (
    None
):
    content = load_content_file(REPO_ROOT / "content" / "nyc311.yaml", catalogue=CATALOGUE)

    info = info_for(content, dt.date(2026, 12, 25))
    assert info["asp_today"] == ["asp_suspended"]
    assert info["office_closures"] == ["offices_closed"]
    prompts = {p for said in info.values() for p in said if not p.startswith("say:")}
    assert prompts <= set(CATALOGUE)


# ---------------------------------------------------------------------------- small maps
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Open", "open"),
        ("in progress", "in_progress"),
        ("In-Progress", "in_progress"),
        ("closed", "closed"),
        ("Resolved", "closed"),
        ("assigned", "assigned"),
        ("on hold", "pending"),
        ("escalated", "unknown"),
        (None, "unknown"),
    ],
)
def test_given_a_crm_status_when_mapped_then_it_is_a_code_with_a_prompt(
    raw: object, code: str
) -> None:
    assert sr_status_code(raw) == code


def test_given_flow_endpoints_when_mapped_then_pjsip_strings_stay_and_line_ids_use_the_trunk() -> (
    None
):
    assert dial_string("PJSIP/dof@referral", "referral") == "PJSIP/dof@referral"
    assert dial_string("dof", "agencies") == "PJSIP/dof@agencies"
    with pytest.raises(ValueError, match="neither"):
        dial_string("Local/s@default", "referral")


# ---------------------------------------------------------------------------- reloads
def test_given_a_broken_file_when_reloaded_then_the_old_value_stays_and_the_error_is_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v.txt"
    path.write_text("1")

    def load(p: Path) -> int:
        text = p.read_text()
        if not text.isdigit():
            raise ContentError(f"not a number: {text}")
        return int(text)

    registry = Reloadable("number", path, load)
    path.write_text("oops")
    with pytest.raises(ContentError):
        registry.reload()
    assert registry.current == 1
    assert registry.last_error == "not a number: oops"
    path.write_text("2")
    assert registry.reload() == 2
    assert registry.last_error is None


def test_given_a_call_in_progress_when_the_flow_is_reloaded_then_it_keeps_its_flow_and_new_calls_get_the_new_one(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path)
    before = edge.session_factory("c1", "311", 0.0)
    flow_file = edge.flows.path
    flow_file.write_text(flow_file.read_text().replace("version: 2", "version: 3"))

    report = edge.reload()

    assert report.ok
    assert report.flow["version"] == 3
    assert before.flow.version == 2
    assert edge.session_factory("c2", "311", 0.0).flow.version == 3


def test_given_an_invalid_flow_when_reloaded_then_it_is_refused_naming_the_node_and_the_old_flow_stays(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path)
    flow_file = edge.flows.path
    flow_file.write_text(flow_file.read_text().replace("prompts: [closures_menu]", "prompts: [x]"))

    report = edge.reload()

    assert not report.ok
    assert "node 'closures'" in report.flow["error"]
    assert "unknown prompt id 'x'" in report.flow["error"]
    assert report.content["ok"]
    assert edge.flows.current.version == 2


async def test_given_the_reload_router_when_posted_then_it_answers_200_or_422_with_an_error_id(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path)
    app = FastAPI()
    app.include_router(flows_router(edge))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://line311") as client:
        ok = await client.post("/api/flows/reload")
        edge.content.path.write_text("version: 1\nschools: {weekdays: [funday]}")
        refused = await client.post("/api/flows/reload")
        current = (await client.get("/api/flows")).json()

    assert ok.status_code == 200
    assert ok.json()["flow"]["name"] == "nyc311"
    assert refused.status_code == 422
    assert refused.json()["error_id"] == "flow-reload-refused"
    assert "funday" in refused.json()["details"]["content"]["error"]
    assert current["content"]["version"] == 3
    assert "funday" in current["content"]["last_error"]


async def test_given_the_watcher_when_a_file_changes_then_it_is_reloaded(tmp_path: Path) -> None:
    edge = make_edge(tmp_path)
    watcher = asyncio.create_task(edge.watch(0.01))
    try:
        edge.content.path.write_text(CONTENT.replace("version: 3", "version: 4"))
        os.utime(edge.content.path, (1, 1))
        for _ in range(500):  # bounded poll
            if edge.content.current.version == 4:
                break
            await asyncio.sleep(0.01)
        assert edge.content.current.version == 4
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


# ---------------------------------------------------------------------------- sessions
def test_given_alerts_and_content_when_a_call_starts_then_the_session_gets_them_for_today(
    tmp_path: Path,
) -> None:
    asked: list[float] = []
    edge = make_edge(tmp_path, alerts_provider=lambda t: asked.append(t) or ["greeting"])

    session = edge.session_factory("c1", "311", 100.0)

    assert asked == [dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC).timestamp()]
    assert edge.today() == dt.date(2026, 6, 10)
    assert session.inner._alerts == [PushedAlert(alert_id="greeting", prompt_id="greeting")]
    assert session.inner._info["asp_today"] == ["asp_suspended", "info_unavailable"]
    assert edge.session("c1") is session


def test_given_a_failing_alerts_provider_when_a_call_starts_then_it_goes_on_without_alerts(
    tmp_path: Path,
) -> None:
    def broken(_: float) -> list[str]:
        raise RuntimeError("store down")

    edge = make_edge(tmp_path, alerts_provider=broken)

    assert edge.session_factory("c1", "311", 0.0).inner._alerts == []


def test_given_the_live_alerts_change_during_a_call_then_the_session_hears_of_it_before_the_next_event(
    tmp_path: Path,
) -> None:
    wall = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC).timestamp()
    live = [
        PushedAlert(
            alert_id="schools", prompt_id="alerts/schools", node="closures", until=wall + 60
        )
    ]
    asked: list[float] = []

    def provider(t: float) -> list[PushedAlert]:
        asked.append(t)
        return list(live)

    edge = make_edge(tmp_path, alerts_provider=provider)
    session = edge.session_factory("c1", "311", 100.0)
    assert session.inner._alerts[0].until == 160.0  # moved onto the session's clock

    session.receive(Answered(), 101.0)
    assert len(session.inner._alerts) == 1
    live.clear()  # withdrawn
    session.handle_timer(102.0)

    assert session.inner._alerts == []
    assert len(asked) == 3


def test_given_a_provider_failing_during_a_call_then_the_session_keeps_the_alerts_it_has(
    tmp_path: Path,
) -> None:
    calls: list[float] = []

    def flaky(_: float) -> list[str]:
        calls.append(_)
        if len(calls) > 1:
            raise RuntimeError("store down")
        return ["greeting"]

    edge = make_edge(tmp_path, alerts_provider=flaky)
    session = edge.session_factory("c1", "311", 0.0)
    session.receive(Answered(), 1.0)

    assert session.inner._alerts == [PushedAlert(alert_id="greeting", prompt_id="greeting")]


def test_given_a_very_long_path_when_recorded_then_the_oldest_prompts_are_dropped_to_fit() -> None:
    session = EdgeSession(CallSession("c1", "311", 0.0))
    session.receive(Answered(), 0.0)
    session.inner._record["prompts"] = [
        {"prompt_id": f"digits/{n % 10}", "language": "en", "at": float(n)} for n in range(2000)
    ]
    session.note("handoff", {"command": "Enqueue"}, outcome="queued")

    record = session.record()

    assert len(json.dumps(record, separators=(",", ":"))) <= MAX_PATH_BYTES
    assert record["prompts_dropped"] > 0
    assert record["prompts"][-1]["at"] == 1999.0
    assert record["handoff"] == {"command": "Enqueue"}
    assert record["outcome"] == "queued"
    assert session.outcome == "queued"


# ---------------------------------------------------------------------------- SR lookup
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"status": "Open", "updated_date": "2026-06-01"},
            SrLookupResult("311000000017", "found", "open", "2026-06-01"),
        ),
        ({"status": "escalated"}, SrLookupResult("311000000017", "found", "unknown", None)),
        (None, SrLookupResult("311000000017", "not_found")),
        (CrmUnavailable("down"), SrLookupResult("311000000017", "unavailable")),
    ],
)
async def test_given_the_crm_answer_when_an_sr_is_looked_up_then_the_session_gets_a_result(
    tmp_path: Path, answer: Any, expected: SrLookupResult
) -> None:
    crm = FakeCrm(answer)
    edge = make_edge(tmp_path, crm=crm)

    result = await edge.sr_lookup("c1", SrLookup("311000000017"))

    assert result == expected
    assert crm.asked == ["311000000017"]


async def test_given_a_slow_crm_when_an_sr_is_looked_up_then_it_is_unavailable_in_bounded_time(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path, crm=FakeCrm({"status": "open"}, delay=10), lookup_timeout=0.05)

    result = await edge.sr_lookup("c1", SrLookup("311000000017"))

    assert result.result == "unavailable"
    assert edge.counters.lookups == {"unavailable": 1}


# ---------------------------------------------------------------------------- Enqueue
async def test_given_no_queue_runtime_when_a_caller_is_enqueued_then_the_handoff_is_noted_and_the_caller_hears_sorry_and_is_hung_up(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.on_play = lambda cid, pid: ari.emit(
        {"type": "PlaybackFinished", "playback": {"id": pid, "state": "done"}}
    )
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        result = await edge.command_handlers()[Enqueue]("c1", Enqueue("ht", "general"))
        await asyncio.wait_for(asyncio.gather(*edge._tasks), 5)

        assert result is None
        assert session.record()["handoff"]["language"] == "ht"
        assert ari.calls == [("play", "c1", f"{PREFIX}/ht/apology"), ("hangup", "c1")]


async def test_given_a_queue_runtime_when_handlers_are_built_then_its_enqueue_handler_is_used(
    tmp_path: Path,
) -> None:
    async def queue_handler(channel_id: str, command: Enqueue) -> None:
        return None

    handlers = make_edge(tmp_path).command_handlers(enqueue=queue_handler)

    assert handlers[Enqueue] is queue_handler


# ---------------------------------------------------------------------------- Transfer
async def test_given_the_agency_answers_when_a_caller_is_referred_then_both_are_bridged_until_one_hangs_up(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.on_originate = lambda leg: ari.emit(channel("StasisStart", leg))
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        await edge.transfer("c1", Transfer("PJSIP/dof@referral", "DOF"))

        handoff = session.record()["handoff"]
        assert handoff["result"] == "connected"
        assert handoff["dial_string"] == "PJSIP/dof@referral"
        assert ("originate", "PJSIP/dof@referral", "c1-ref", ("outbound", "referral")) in ari.calls
        assert ("add_channel", "c1-refbr", ["c1", "c1-ref"]) in ari.calls
        assert "hangup" not in ari.names()

        ari.emit(channel("StasisEnd", "c1-ref"))  # the agency hangs up
        await asyncio.wait_for(asyncio.gather(*edge._tasks), 5)

        assert ("hangup", "c1") in ari.calls
        assert ari.calls[-1] == ("destroy_bridge", "c1-refbr")
        assert edge.counters.referrals == {"connected": 1}


async def test_given_the_agency_leg_fails_when_a_caller_is_referred_then_they_hear_an_apology_and_the_record_says_so(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.on_originate = lambda leg: ari.emit(channel("ChannelDestroyed", leg, cause_txt="Busy"))
    ari.on_play = lambda cid, pid: ari.emit(
        {"type": "PlaybackFinished", "playback": {"id": pid, "state": "done"}}
    )
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)
        session.inner.language = "es"

        await edge.transfer("c1", Transfer("PJSIP/hhc@referral", "NYC Health + Hospitals"))
        await asyncio.wait_for(asyncio.gather(*edge._tasks), 5)

        record = session.record()
        assert record["handoff"]["result"] == "failed"
        assert record["handoff"]["reason"] == "leg-failed:Busy"
        assert record["outcome"] == "referral_failed"
        assert ("play", "c1", f"{PREFIX}/es/apology") in ari.calls
        assert ari.calls[-1] == ("hangup", "c1")
        assert "create_bridge" not in ari.names()


async def test_given_asterisk_refuses_the_originate_when_a_caller_is_referred_then_the_referral_fails_cleanly(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.fail["originate"] = AriServerError(500, "POST", "/channels/c1-ref", "boom")
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        await edge.transfer("c1", Transfer("dof", "DOF"))
        for task in list(edge._tasks):
            task.cancel()

        assert session.record()["handoff"]["dial_string"] == "PJSIP/dof@referral"
        assert session.record()["handoff"]["result"] == "failed"


async def test_given_the_caller_hangs_up_while_the_agency_rings_when_referred_then_the_leg_is_dropped(
    tmp_path: Path,
) -> None:
    ari = FakeAri()
    ari.on_originate = lambda leg: ari.emit(channel("StasisEnd", "c1"))
    edge = make_edge(tmp_path, ari=ari)
    async with edge.running():
        session = edge.session_factory("c1", "311", 0.0)

        await edge.transfer("c1", Transfer("dof", "DOF"))

        assert session.record()["handoff"]["reason"] == "caller-hung-up"
        assert ("hangup", "c1-ref") in ari.calls
        assert not edge._tasks  # nobody left to apologise to


def test_given_a_session_when_it_plays_then_media_is_in_the_callers_language() -> None:
    session = EdgeSession(CallSession("c1", "311", 0.0))
    session.receive(Answered(), 0.0)

    plays = [c for c in session.commands() if isinstance(c, Play)]

    assert plays
    assert plays[0].language == "en"
