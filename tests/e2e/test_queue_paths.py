"""Issue 16: queue paths that were only unit-tested, end to end on the real stack.

Real Asterisk, real SIPp callers (RTP speech, RFC 2833 digits), SIPp CCR phones that REGISTER
with digest auth, a SIPp UAS answering the interpreter line, and real ``line311 serve`` /
``crm-bridge`` processes. Assertions read what really happened: ARI (an independent
observer, the bridges), the desk API and the Asterisk-format ``queue_log``.

The stack runs a short flow (language menu, then a menu whose keys lead to the queues), a
roster of four CCRs whose skills make each path decidable, and these queues:

    general  topic:general                (interpreter at once when nobody speaks the language)
    deep     topic:general>=5, after 4 s any level (nobody has 5: only escalation serves it)
    housing  topic:housing                (agent2 at level 2, agent3 at level 5)
    noise    topic:noise, 120 s default handle time (the estimated wait is predictable)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.sim.sipp import (
    ON_CUE,
    SippCaller,
    SippPhone,
    start_agent,
    start_caller,
    start_feature_call,
    start_phone,
)
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import playbacks, running_stack
from tests.e2e.stack import AriObserver, Stack, wait_until
from tests.e2e.test_queues import Api, call_records, connects, password, queue_log

pytestmark = pytest.mark.asterisk

FLOW = """\
flow: queue-paths
version: 1
start: language
nodes:
  language:
    kind: language
    prompt: language_option
    options: {"1": en, "2": es, "3": cmn, "4": yue, "5": ru, "6": ko, "7": ht}
    other: {key: "0", prompt: language_other, next: to_interpreter}
    next: pick
  pick:
    kind: menu
    topic: general
    prompts: [main_menu]
    options: {"1": to_general, "2": to_deep, "3": to_housing, "4": to_noise}
  to_general: {kind: queue, topic: general}
  to_deep: {kind: queue, topic: deep}
  to_housing: {kind: queue, topic: housing}
  to_noise: {kind: queue, topic: noise}
  to_interpreter: {kind: queue, topic: general, prompts: [transfer_interpreter]}
  representative: {kind: queue, topic: general}
"""
QUEUES = """\
queues:
  general:
    requires: "topic:general"
    wrapup_seconds: 1
  deep:
    requires: "topic:general>=5"
    wrapup_seconds: 1
    interpreter_when_unstaffed: false
    escalation: [{after: 4, min_proficiency: 1}]
  housing:
    requires: "topic:housing"
    wrapup_seconds: 1
  noise:
    requires: "topic:noise"
    wrapup_seconds: 1
    default_handle_time: 120
"""
ROSTER = """\
agents:
  agent1: {name: Alex, endpoint: PJSIP/agent1, skills: {lang:en: 5, topic:general: 4, topic:noise: 3}}
  agent2: {name: Bea, endpoint: PJSIP/agent2, skills: {lang:en: 5, topic:housing: 2}}
  agent3: {name: Chen, endpoint: PJSIP/agent3, skills: {lang:en: 5, topic:housing: 5, topic:general: 3}}
  agent5: {name: Eve, endpoint: PJSIP/agent5, skills: {lang:en: 5, topic:general: 4}}
"""
LANGUAGE_KEY = {"en": "1", "ht": "7"}
MENU_KEY = {"general": "1", "deep": "2", "housing": "3", "noise": "4"}
ALL_AGENTS = ("agent1", "agent2", "agent3", "agent5")
SOUNDS = "sound:/var/lib/line311/sounds/"
_numbers = itertools.count(1)
_INVITE_CALL_ID = re.compile(r"^INVITE sip:[^\n]*\n(?:[^\n]+\n)*?Call-ID:\s*(\S+)", re.M | re.I)


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("queue-paths")
    files = {"flow.yaml": FLOW, "queues.yaml": QUEUES, "agents.yaml": ROSTER}
    for name, text in files.items():
        (workdir / name).write_text(text)
    env = {
        "LINE311_FLOW_FILE": str(workdir / "flow.yaml"),
        "LINE311_QUEUES_FILE": str(workdir / "queues.yaml"),
        "LINE311_AGENTS_FILE": str(workdir / "agents.yaml"),
        "LINE311_QUEUE_RING_TIMEOUT": "6",
        "LINE311_QUEUE_ANNOUNCE_FIRST": "1",
        "LINE311_QUEUE_PERIODIC_INTERVAL": "0",
    }
    with running_stack(asterisk_instance, workdir, env) as s:
        yield s


@pytest.fixture(scope="module")
def observer(asterisk_instance: AsteriskInstance) -> Iterator[AriObserver]:
    obs = AriObserver(
        asterisk_instance.ari_url, asterisk_instance.ari_user, asterisk_instance.ari_password
    )
    try:
        yield obs
    finally:
        obs.close()


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    """The desk API; every CCR of the roster is logged out after each test."""
    desk = Api(stack)
    try:
        yield desk
    finally:
        desk.reset(*ALL_AGENTS)


_started: list[Any] = []


@pytest.fixture(autouse=True)
def _no_stray_sipp() -> Iterator[None]:
    """Every SIPp process a test starts is stopped when it ends, even when it fails early."""
    yield
    while _started:
        proc = _started.pop()
        (getattr(proc, "stop", None) or proc.kill)()


# ---------------------------------------------------------------------- helpers
def phone(tmp_path: Path, instance: AsteriskInstance, agent: str, talk_ms: int) -> SippPhone:
    started = start_agent(
        tmp_path / f"{agent}-{next(_numbers)}",
        instance.sip_port,
        agent,
        password(instance),
        talk_ms=talk_ms,
    )
    _started.append(started)
    return started


def caller(
    tmp_path: Path,
    instance: AsteriskInstance,
    queue: str,
    language: str = "en",
    hold_ms: int = 60_000,
) -> SippCaller:
    """A resident who picks ``language``, then the menu key of ``queue``, then holds."""
    dtmf = [(ON_CUE, LANGUAGE_KEY[language]), (1_500, MENU_KEY[queue])]
    started = start_caller(
        tmp_path / f"caller-{next(_numbers)}", instance.sip_port, "311", dtmf=dtmf, hold_ms=hold_ms
    )
    _started.append(started)
    return started


def feature(tmp_path: Path, instance: AsteriskInstance, agent: str, code: str) -> None:
    """``agent`` dials the feature ``code`` from their phone; line311 confirms and hangs up."""
    call = start_feature_call(
        tmp_path / f"feature-{next(_numbers)}",
        instance.sip_port,
        agent,
        password(instance),
        code=code,
        hold_ms=15_000,
    )
    _started.append(call)
    result = call.wait(timeout=45)
    assert result.final_status == 200, result.statuses
    assert result.remote_hung_up, f"{code}: line311 hangs up after the confirmation"


def entered_in(stack: Stack, queue: str, known: set[str], count: int = 1) -> list[str]:
    """The call ids of the next ``count`` calls that entered ``queue`` (bounded poll)."""

    def fresh() -> list[str] | None:
        ids = [
            r.call_id
            for r in queue_log(stack)
            if r.event == "ENTERQUEUE" and r.queue == queue and r.call_id not in known
        ]
        return ids if len(ids) >= count else None

    return list(wait_until(fresh, 30, f"{count} new call(s) in {queue}", step=0.2))


def rung(p: SippPhone) -> int:
    """Calls the phone was offered: distinct Call-IDs of its INVITEs (re-INVITEs are not calls)."""
    return len(set(_INVITE_CALL_ID.findall(p.snapshot().log)))


def known_calls(stack: Stack) -> set[str]:
    return {r.call_id for r in queue_log(stack)}


def media(observer: AriObserver, channel: str, kinds: tuple[str, ...]) -> list[str]:
    """Media (``lang/prompt``) of the playback events of ``kinds`` on ``channel``, in order."""
    return [
        e["playback"]["media_uri"].removeprefix(SOUNDS)
        for e in observer.snapshot()
        if e.get("type") in kinds and e["playback"]["target_uri"] == f"channel:{channel}"
    ]


def ari_bridge(instance: AsteriskInstance, bridge_id: str) -> dict[str, Any] | None:
    r = httpx.get(
        f"{instance.ari_url}/ari/bridges/{bridge_id}",
        auth=(instance.ari_user, instance.ari_password),
        timeout=5,
    )
    return dict(r.json()) if r.status_code == 200 else None


def ari_channel_name(instance: AsteriskInstance, channel_id: str) -> str:
    r = httpx.get(
        f"{instance.ari_url}/ari/channels/{channel_id}",
        auth=(instance.ari_user, instance.ari_password),
        timeout=5,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["name"])


def desk_queue(stack: Stack, name: str) -> dict[str, Any]:
    api = Api(stack)
    r = httpx.get(api.base + "/queues", headers=api.headers, timeout=5)
    return next(q for q in r.json()["queues"] if q["queue"] == name)  # type: ignore[no-any-return]


def completed(stack: Stack, call_id: str) -> bool:
    return any(r.call_id == call_id and r.event.startswith("COMPLETE") for r in queue_log(stack))


# ---------------------------------------------------------------------- 1. interpreter 3-way
def test_given_a_caller_in_a_language_no_ccr_speaks_when_a_ccr_answers_then_the_interpreter_line_joins_one_mixing_bridge_of_three(
    stack: Stack,
    api: Api,
    observer: AriObserver,
    asterisk_instance: AsteriskInstance,
    tmp_path: Path,
) -> None:
    port = int(asterisk_instance.settings.interpreter_contact.rpartition(":")[2])
    interpreter = start_phone(tmp_path / "interpreter", port, talk_ms=600_000)
    _started.append(interpreter)
    agent1 = phone(tmp_path, asterisk_instance, "agent1", talk_ms=14_000)
    api.post("/agents/agent1/login")  # English only: nobody logged in speaks Haitian Creole
    known = known_calls(stack)

    resident = caller(tmp_path, asterisk_instance, "general", language="ht")
    (call_id,) = entered_in(stack, "general", known)
    bridge = wait_until(
        lambda: (
            (b := ari_bridge(asterisk_instance, f"conn-{call_id}"))
            and len(b["channels"]) == 3
            and b
        ),
        30,
        "caller, CCR and interpreter in one bridge",
        step=0.2,
    )
    names = sorted(ari_channel_name(asterisk_instance, c) for c in bridge["channels"])
    result = resident.wait(timeout=60)  # the CCR hangs up: every leg goes

    assert bridge["bridge_type"] == "mixing"
    assert call_id in bridge["channels"]
    assert [n.rpartition("-")[0] for n in names] == [
        "PJSIP/agent1",
        "PJSIP/carrier",
        "PJSIP/interpreter",
    ]
    assert result.final_status == 200
    assert result.remote_hung_up
    assert rung(agent1) == 1
    assert rung(interpreter) == 1
    assert connects(stack)[call_id] == "agent1"
    # the CCR was told, before the caller was put through, that an interpreter is coming
    agent_leg = next(c for c in bridge["channels"] if c.startswith(f"{call_id}-a"))
    assert media(observer, agent_leg, ("PlaybackFinished",))[-1] == "en/whisper/interpreter"
    wait_until(lambda: completed(stack, call_id), 15, "the call to complete")
    assert wait_until(
        lambda: ari_bridge(asterisk_instance, f"conn-{call_id}") is None, 10, "teardown"
    )


def test_given_a_caller_of_none_of_the_seven_languages_when_0_at_the_language_menu_then_an_english_ccr_and_the_interpreter_line_take_the_call(
    stack: Stack,
    api: Api,
    observer: AriObserver,
    asterisk_instance: AsteriskInstance,
    tmp_path: Path,
) -> None:
    """For all other languages, press 0: the caller hears it in English after the seven
    options, keys 0 over RTP, hears "Please hold ... with an interpreter" in English and is
    queued as ``und``; an English-speaking CCR is told "Other language. ... An interpreter
    will join." and the interpreter line joins caller and CCR in one mixing bridge."""
    port = int(asterisk_instance.settings.interpreter_contact.rpartition(":")[2])
    interpreter = start_phone(tmp_path / "interpreter", port, talk_ms=600_000)
    _started.append(interpreter)
    agent1 = phone(tmp_path, asterisk_instance, "agent1", talk_ms=14_000)
    api.post("/agents/agent1/login")
    known = known_calls(stack)

    resident = start_caller(
        tmp_path / f"caller-{next(_numbers)}",
        asterisk_instance.sip_port,
        "311",
        dtmf=[(ON_CUE, "0")],
        hold_ms=60_000,
    )
    _started.append(resident)
    (call_id,) = entered_in(stack, "general", known)
    bridge = wait_until(
        lambda: (
            (b := ari_bridge(asterisk_instance, f"conn-{call_id}"))
            and len(b["channels"]) == 3
            and b
        ),
        30,
        "caller, CCR and interpreter in one bridge",
        step=0.2,
    )
    names = sorted(ari_channel_name(asterisk_instance, c) for c in bridge["channels"])
    result = resident.wait(timeout=60)  # the CCR hangs up: every leg goes

    assert [n.rpartition("-")[0] for n in names] == [
        "PJSIP/agent1",
        "PJSIP/carrier",
        "PJSIP/interpreter",
    ]
    assert result.final_status == 200
    assert rung(agent1) == 1
    assert rung(interpreter) == 1
    assert connects(stack)[call_id] == "agent1"
    heard = media(observer, call_id, ("PlaybackStarted",))
    assert "en/transfer_interpreter" in heard
    agent_leg = next(c for c in bridge["channels"] if c.startswith(f"{call_id}-a"))
    whisper = media(
        observer, agent_leg, ("PlaybackStarted", "PlaybackContinuing", "PlaybackFinished")
    )
    assert "en/whisper/lang/und" in whisper
    assert whisper[-1] == "en/whisper/interpreter"
    wait_until(lambda: completed(stack, call_id), 15, "the call to complete")
    record = call_records(stack, [call_id])[call_id]
    assert record["language"] == "und"
    assert record["path"]["exit"] == "other-language"


# ---------------------------------------------------------------------- 2. escalation
def test_given_a_caller_needing_a_level_nobody_has_when_the_escalation_step_passes_then_a_ccr_takes_them_before_a_later_caller(
    stack: Stack, api: Api, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    agent1 = phone(tmp_path, asterisk_instance, "agent1", talk_ms=5_000)
    api.post("/agents/agent1/login")  # topic:general at 4: not enough for `deep` (5)
    api.post("/agents/agent1/pause")  # on a break while both callers arrive
    known = known_calls(stack)

    first = caller(tmp_path, asterisk_instance, "deep")
    (deep_call,) = entered_in(stack, "deep", known)
    second = caller(tmp_path, asterisk_instance, "general")  # eligible for agent1 at once
    (general_call,) = entered_in(stack, "general", known)
    # the first caller has passed their escalation step (after 4 s) and both are waiting
    wait_until(lambda: desk_queue(stack, "deep")["longest_wait"] >= 5, 20, "escalation", step=0.2)
    assert desk_queue(stack, "general")["waiting"] == 1
    api.post("/agents/agent1/resume")
    results = [first.wait(timeout=60), second.wait(timeout=60)]

    assert all(r.final_status == 200 and r.remote_hung_up for r in results)
    assert rung(agent1) == 2
    records = queue_log(stack)
    order = [
        r.call_id
        for r in records
        if r.event == "CONNECT" and r.call_id in (deep_call, general_call)
    ]
    assert order == [deep_call, general_call], "the escalated caller kept their place"
    assert connects(stack)[deep_call] == "agent1"
    (held,) = [float(r.data[0]) for r in records if r.event == "CONNECT" and r.call_id == deep_call]
    assert held >= 4, "served only after the escalation step"


# ---------------------------------------------------------------------- 3. topic x proficiency
def test_given_two_free_ccrs_with_the_topic_at_levels_2_and_5_when_calls_come_then_the_level_5_ccr_takes_the_first(
    stack: Stack, api: Api, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    level2 = phone(tmp_path, asterisk_instance, "agent2", talk_ms=8_000)
    level5 = phone(tmp_path, asterisk_instance, "agent3", talk_ms=8_000)
    # agent2 logs in first: idle the longest, so only the skill level can favour agent3
    api.post("/agents/agent2/login")
    api.post("/agents/agent3/login")
    assert api.agent("agent2")["idle_since"] < api.agent("agent3")["idle_since"]
    known = known_calls(stack)

    first = caller(tmp_path, asterisk_instance, "housing")
    (first_call,) = entered_in(stack, "housing", known)
    wait_until(lambda: first_call in connects(stack), 20, "the first call to be answered")
    second = caller(tmp_path, asterisk_instance, "housing")
    (_, second_call) = entered_in(stack, "housing", known, count=2)
    results = [first.wait(timeout=60), second.wait(timeout=60)]

    assert all(r.final_status == 200 for r in results)
    by_call = connects(stack)
    assert by_call[first_call] == "agent3", "best skill first (best_skill_longest_idle)"
    assert by_call[second_call] == "agent2", "the level-2 CCR is in the pool too"
    assert (rung(level5), rung(level2)) == (1, 1)


# ---------------------------------------------------------------------- 4. position and EWT
def _announcement(observer: AriObserver, channel: str) -> list[str]:
    """The first position announcement the caller heard, up to the callback offer."""

    def heard() -> list[str] | None:
        # a list plays as one playback: each item is reported once as it ends
        seq = media(observer, channel, ("PlaybackContinuing", "PlaybackFinished"))
        if "en/queue/position" not in seq or "en/queue/callback_offer" not in seq:
            return None
        start = seq.index("en/queue/position")
        return seq[start : seq.index("en/queue/callback_offer", start) + 1]

    return list(wait_until(heard, 30, f"a position announcement on {channel}", step=0.2))


def test_given_callers_waiting_behind_a_busy_ccr_when_announced_then_each_hears_their_position_and_estimated_wait(
    stack: Stack,
    api: Api,
    observer: AriObserver,
    asterisk_instance: AsteriskInstance,
    tmp_path: Path,
) -> None:
    phone(tmp_path, asterisk_instance, "agent1", talk_ms=30_000)
    api.post("/agents/agent1/login")
    known = known_calls(stack)
    busy = caller(tmp_path, asterisk_instance, "noise")
    (busy_call,) = entered_in(stack, "noise", known)
    wait_until(lambda: busy_call in connects(stack), 20, "the CCR to be on the first call")
    # two callers wait behind: positions 1 and 2; one CCR working, none free
    second = caller(tmp_path, asterisk_instance, "noise", hold_ms=16_000)
    (_, second_call) = entered_in(stack, "noise", known, count=2)
    third = caller(tmp_path, asterisk_instance, "noise", hold_ms=16_000)
    (_, _, third_call) = entered_in(stack, "noise", known, count=3)

    # the queue as the third caller's announcement was made
    wait_until(
        lambda: "en/queue/position" in media(observer, third_call, ("PlaybackStarted",)),
        20,
        "the third caller's announcement",
    )
    state = desk_queue(stack, "noise")
    heard_second = _announcement(observer, second_call)
    heard_third = _announcement(observer, third_call)
    for c in (second, third, busy):
        c.wait(timeout=60)

    # wait = (position - free CCRs) x handle time (the queue's 120 s default) / working CCRs
    assert heard_second == [
        "en/queue/position", "en/numbers/1",
        "en/queue/wait_about", "en/numbers/2", "en/queue/minutes",
        "en/queue/callback_offer",
    ]  # fmt: skip
    assert heard_third == [
        "en/queue/position", "en/numbers/2",
        "en/queue/wait_about", "en/numbers/4", "en/queue/minutes",
        "en/queue/callback_offer",
    ]  # fmt: skip
    assert (state["waiting"], state["on_call_agents"], state["available_agents"]) == (2, 1, 0)
    assert state["handle_time"] == 120


# ---------------------------------------------------------------------- 5. a phone not rung
def test_given_a_ccr_whose_phone_cannot_be_rung_when_offered_a_call_then_held_unreachable_not_paused_and_back_by_itself(
    stack: Stack, api: Api, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    """Without the phones' registrations followed (this stack, as with several Asterisks
    behind Kamailio), a CCR with no phone is found by the dial: agent5 is in the roster and
    this Asterisk has no such endpoint, so nobody can be rung, which is no miss of the CCR.
    They are held out `unreachable` for `queue_unreachable_hold` (10 s) and come back by
    themselves; the call waits its turn and the next CCR takes it."""
    api.post("/agents/agent5/login")  # the only CCR in: offered the call first
    known = known_calls(stack)
    resident = caller(tmp_path, asterisk_instance, "general", hold_ms=40_000)
    (call_id,) = entered_in(stack, "general", known)
    wait_until(lambda: api.agent("agent5")["pause_reason"] == "unreachable", 30, "agent5 held")
    assert api.agent("agent5")["state"] == "paused"
    phone(tmp_path, asterisk_instance, "agent1", talk_ms=3_000)
    api.post("/agents/agent1/login")
    # (40 s: a second failed dial, had the hold ended before agent1 came, holds 20 s)
    wait_until(lambda: api.agent("agent5")["state"] == "available", 40, "agent5 back")
    assert resident.wait(timeout=60).final_status == 200
    assert connects(stack)[call_id] == "agent1"
    held = [r for r in queue_log(stack) if r.event == "PAUSEALL" and r.agent == "agent5"]
    assert held  # (twice if the hold ended before agent1 logged in: each time unreachable)
    assert {r.data[0] for r in held} == {"unreachable"}
    assert "agent5's phone could not be rung" in stack.logs()
    # one RINGNOANSWER per failed dial (as app_queue writes for an unavailable member), and
    # the call's record says which offers could not ring
    unrung = [r for r in queue_log(stack) if r.event == "RINGNOANSWER" and r.call_id == call_id]
    assert {r.agent for r in unrung} == {"agent5"}
    offers = call_records(stack, [call_id])[call_id]["queue_leg"]["offers"]
    assert [o["agent_id"] for o in offers if o.get("unreachable")] == ["agent5"] * len(unrung)
    assert [o["agent_id"] for o in offers if o["answered"]] == ["agent1"]


# ---------------------------------------------------------------------- 6. feature codes
def test_given_a_ccr_phone_when_it_dials_71_73_74_72_then_the_ccr_logs_in_pauses_gets_no_offer_resumes_takes_the_call_and_logs_out(
    stack: Stack,
    api: Api,
    observer: AriObserver,
    asterisk_instance: AsteriskInstance,
    tmp_path: Path,
) -> None:
    agent3 = phone(tmp_path, asterisk_instance, "agent3", talk_ms=4_000)
    assert api.agent("agent3")["state"] == "logged_out"

    feature(tmp_path, asterisk_instance, "agent3", "*71")
    assert api.agent("agent3")["state"] == "available"
    feature(tmp_path, asterisk_instance, "agent3", "*73")
    assert api.agent("agent3")["state"] == "paused"
    assert api.agent("agent3")["pause_reason"] == "break"

    known = known_calls(stack)
    resident = caller(tmp_path, asterisk_instance, "general")
    (call_id,) = entered_in(stack, "general", known)
    # the pump has been round since the call arrived: it started the position announcement
    wait_until(
        lambda: "en/queue/position" in media(observer, call_id, ("PlaybackStarted",)),
        20,
        "the first position announcement",
    )
    assert rung(agent3) == 0, "a paused CCR is offered no call"
    assert desk_queue(stack, "general")["waiting"] == 1

    feature(tmp_path, asterisk_instance, "agent3", "*74")
    wait_until(lambda: call_id in connects(stack), 20, "the call to reach agent3")
    assert resident.wait(timeout=60).final_status == 200
    wait_until(lambda: api.agent("agent3")["state"] != "on_call", 15, "the call to end")
    feature(tmp_path, asterisk_instance, "agent3", "*72")

    assert api.agent("agent3")["state"] == "logged_out"
    assert rung(agent3) == 1
    assert connects(stack)[call_id] == "agent3"

    # each code was confirmed to the end (the observer may hear of it just after the BYE)
    def confirmed() -> list[str] | None:
        heard = [
            p["media_uri"].removeprefix(SOUNDS)
            for p in playbacks(observer, "done")
            if "/agent/" in p["media_uri"]
        ]
        return heard if len(heard) >= 4 else None

    assert wait_until(confirmed, 10, "four confirmations") == [
        "en/agent/logged_in",
        "en/agent/paused",
        "en/agent/resumed",
        "en/agent/logged_out",
    ]
    pauses = [
        r for r in queue_log(stack) if r.agent == "agent3" and r.event in ("PAUSEALL", "UNPAUSEALL")
    ]
    assert [r.event for r in pauses][-2:] == ["PAUSEALL", "UNPAUSEALL"]
