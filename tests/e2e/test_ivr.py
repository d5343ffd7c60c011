"""Issue 3, end to end: residents use the full 311 IVR through a real Asterisk.

Five SIPp callers (real RTP speech, RFC 2833 digits) call the shipped flow at the same time,
against real ``line311 crm-bridge`` and ``line311 serve`` processes; an independent ARI
observer records what Asterisk really played (which prompt, which language, stopped or
done) and the tests read the recorded path back with ``line311 calls list --json``.

    caller   digits (after the 9 s greeting, which a key cannot skip)      expects
    es_sr    2 (Spanish), 4 (SR status), SR#, 1 (confirm), listen          status read out
    en_asp   1 (English), 1 (parking), listen, hang up                     self_served
    ht_rep   7 (Haitian Creole), 0                                         queued, ht
    en_bad   1, 4, a number with a wrong check digit #                     "sr_invalid", retry
    en_barge 1, 3 three seconds into the 25 s main menu                    main menu stopped

Timings are DTMF waits in the SIPp scenario (each digit takes ~200 ms); every
synchronisation in the test is a bounded poll.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from line311.call.srnumber import check_digit
from line311.sim.sipp import ON_CUE, SippResult, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import playbacks, start_stack
from tests.e2e.stack import AriObserver, Stack, wait_until

pytestmark = pytest.mark.asterisk

CALLER = "2125550199"
SOUNDS = "sound:/var/lib/line311/sounds"


@dataclass
class Call:
    name: str
    result: SippResult
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["call_id"])

    @property
    def path(self) -> dict[str, Any]:
        path: dict[str, Any] = self.record["path"]
        return path

    def prompts(self) -> list[str]:
        return [f"{p['language']}/{p['prompt_id']}" for p in self.path["prompts"]]


@dataclass
class Run:
    stack: Stack
    observer: AriObserver
    calls: dict[str, Call]
    sr_number: str

    def heard(self, call: Call, state: str | None = "done") -> list[str]:
        """Media (``lang/prompt``) Asterisk finished playing on the call's channel."""
        return [
            p["media_uri"].removeprefix(SOUNDS + "/")
            for p in playbacks(self.observer, state)
            if p["target_uri"] == f"channel:{call.id}"
        ]

    def events(self, call: Call) -> list[dict[str, Any]]:
        out = []
        for e in self.observer.snapshot():
            target = e.get("playback", {}).get("target_uri")
            if e.get("channel", {}).get("id") == call.id or target == f"channel:{call.id}":
                out.append(e)
        return out


def _today_and_tomorrow_in_new_york() -> tuple[str, str]:
    """Both, so a run that crosses New York's midnight still finds "today" suspended."""
    today = dt.datetime.now(ZoneInfo("America/New_York")).date()
    return today.isoformat(), (today + dt.timedelta(days=1)).isoformat()


def _seed_sr(stack: Stack) -> str:
    """File an SR through the CRM bridge API, as a CCR's desktop would."""
    response = httpx.post(
        f"http://127.0.0.1:{stack.crm_port}/v1/sr",
        json={"service_code": "derelict-vehicle", "description": "e2e: abandoned car"},
        headers={"Authorization": f"Bearer {stack.env['LINE311_CRM_API_KEY']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sr_number"])


def _wrong_check_digit(sr_number: str) -> str:
    body = sr_number[:-1]
    good = check_digit(body)
    return body + str((int(good) + 1) % 10)


@pytest.fixture(scope="module")
def run(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("ivr")
    content = workdir / "content.yaml"
    today, tomorrow = _today_and_tomorrow_in_new_york()
    content.write_text(
        "version: 1\n"
        "alternate_side_parking:\n"
        f"  dates: [{{date: {today}, reason: e2e_snow}}, {{date: {tomorrow}, reason: e2e_snow}}]\n"
    )
    stack = start_stack(asterisk_instance, workdir, {"LINE311_CONTENT_FILE": str(content)})
    observer = AriObserver(
        asterisk_instance.ari_url, asterisk_instance.ari_user, asterisk_instance.ari_password
    )
    try:
        sr_number = _seed_sr(stack)
        scripts: dict[str, tuple[list[tuple[int, str]], int]] = {
            "es_sr": (
                # "1" once the number has been read back: a key before it is ignored
                [(ON_CUE, "2"), (1500, "4"), (1500, sr_number + "#"), (ON_CUE, "1")],
                16_000,  # "please wait" (4 s) plays out before the status
            ),
            "en_asp": ([(ON_CUE, "1"), (1500, "1")], 7_000),
            "ht_rep": ([(ON_CUE, "7"), (1500, "0")], 25_000),
            "en_bad": ([(ON_CUE, "1"), (1500, "4"), (1500, _wrong_check_digit(sr_number) + "#")], 16_000),  # room for "invalid" + the retry prompt on a busy box
            "en_barge": ([(ON_CUE, "1"), (3000, "3")], 3_000),
        }  # fmt: skip
        known = {r["call_id"] for r in stack.calls()}
        callers = {
            name: start_caller(
                workdir / f"sipp-{name}",
                asterisk_instance.sip_port,
                "311",
                from_user=CALLER,
                dtmf=dtmf,
                hold_ms=hold,
            )
            for name, (dtmf, hold) in scripts.items()
        }
        results = {name: caller.wait(timeout=90) for name, caller in callers.items()}
        records = wait_until(
            lambda: _new_records(stack, known, len(callers)), 20, "five call records", step=0.5
        )
        calls = {
            name: Call(name, results[name], _which(records, name)) for name in scripts
        }  # fmt: skip
        yield Run(stack, observer, calls, sr_number)
    finally:
        observer.close()
        stack.stop()


def _new_records(stack: Stack, known: set[str], count: int) -> list[dict[str, Any]] | None:
    fresh = [r for r in stack.calls() if r["call_id"] not in known]
    if len(fresh) < count:
        return None
    return fresh  # ``calls list --json`` has each whole record (one CLI run, not six)


def _which(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The record of the scripted caller ``name``, told apart by language and nodes visited."""

    def nodes(rec: dict[str, Any]) -> set[str]:
        return {n["node"] for n in rec["path"]["nodes"]}

    tests = {
        "es_sr": lambda r: r["language"] == "es",
        "ht_rep": lambda r: r["language"] == "ht",
        "en_asp": lambda r: r["language"] == "en" and "parking" in nodes(r),
        "en_bad": lambda r: r["language"] == "en" and "sr_status" in nodes(r),
        "en_barge": lambda r: r["language"] == "en" and "closures" in nodes(r),
    }
    found = [r for r in records if tests[name](r)]
    assert len(found) == 1, f"{name}: no single matching record in {json.dumps(records)[:3000]}"
    return found[0]


def test_given_a_spanish_caller_when_they_key_an_sr_number_and_confirm_it_then_they_hear_its_status_in_spanish(
    run: Run,
) -> None:
    call = run.calls["es_sr"]

    assert call.result.final_status == 200
    assert call.record["language"] == "es"
    assert call.path["language_selected_by"] == "dtmf"
    heard = run.heard(call)
    assert "es/sr_you_entered" in call.prompts()  # the number read back for confirmation
    assert "es/sr_status_is" in heard
    assert "es/sr_status_open" in heard
    assert [(x["sr_number"], x["result"], x["status"]) for x in call.path["sr_lookups"]] == [
        (run.sr_number, "found", "open")
    ]
    assert call.record["outcome"] == "sr_lookup"
    digits = "".join(d["digit"] for d in call.path["digits"] if not d.get("ignored"))
    assert digits == "24" + run.sr_number + "#1"
    assert CALLER not in json.dumps(call.record)


def test_given_an_english_caller_when_they_pick_alternate_side_parking_and_hang_up_then_the_call_is_self_served(
    run: Run,
) -> None:
    call = run.calls["en_asp"]

    assert "en/asp_suspended" in run.heard(call)  # today is suspended in the test content
    assert not call.result.remote_hung_up, "the caller hangs up, not line311"
    assert call.record["outcome"] == "self_served"
    assert call.path["self_service"][0]["info"] == "asp_today"
    assert [n["node"] for n in call.path["nodes"]] == [
        "greeting",
        "alerts",
        "language",
        "main",
        "parking",
    ]


def test_given_a_haitian_creole_caller_when_they_press_0_then_they_are_queued_with_the_ht_requirement(
    run: Run,
) -> None:
    call = run.calls["ht_rep"]

    assert call.record["language"] == "ht"
    assert call.path["queue"]["language"] == "ht"
    assert call.path["queue"]["topic"] == "general"
    assert call.path["exit"] == "representative-requested"
    heard = run.heard(call)
    assert "ht/transfer_representative" in heard
    # the Enqueue hand-off: the queue runtime's handler takes the channel (music on hold, its
    # queue leg in the record below); without a queue runtime the IVR's placeholder notes it,
    # says sorry, hangs up
    if call.path.get("handoff", {}).get("handler") == "placeholder":
        assert call.record["outcome"] == "queued"
        assert call.path["handoff"]["language"] == "ht"
        assert heard.index("ht/transfer_representative") < heard.index("ht/apology")
        return
    assert "queue_leg" in call.record, "the queue runtime should have taken the caller"
    # issue 16: ONE record for the whole call, written when the caller left the queue (no
    # CCR is logged in: they hung up waiting), with the queue leg joined to the IVR path
    assert call.record["outcome"] == "abandoned_in_queue"
    assert call.record["queue"] == "general"
    assert call.record["agent_id"] is None
    leg = call.record["queue_leg"]
    assert (leg["queue"], leg["end"], leg["topic"]) == ("general", "abandoned", "general")
    assert "lang:ht" in leg["skills"]
    t = dt.datetime.fromisoformat
    assert t(call.record["abandoned_at"]) == t(leg["abandoned_at"]) == t(leg["ended_at"])
    assert t(call.record["started_at"]) < t(leg["enqueued_at"]) < t(leg["abandoned_at"])
    assert t(call.record["ended_at"]) >= t(leg["abandoned_at"])
    assert 0 < leg["wait_seconds"] < 25  # the caller held the line for 25 s in all


def test_given_an_sr_number_with_a_wrong_check_digit_when_keyed_then_the_caller_hears_it_is_invalid_and_is_asked_again(
    run: Run,
) -> None:
    call = run.calls["en_bad"]

    prompts = call.prompts()
    invalid_at = prompts.index("en/sr_invalid")
    assert prompts[invalid_at + 1] == "en/sr_enter"  # the retry prompt
    assert "en/sr_invalid" in run.heard(call)
    assert call.path["sr_lookups"] == []  # nothing was looked up
    assert call.record["outcome"] == "abandoned_in_ivr"


def test_given_a_prompt_playing_when_the_caller_presses_a_key_then_the_prompt_stops_at_once_and_the_next_menu_plays(
    run: Run,
) -> None:
    call = run.calls["en_barge"]
    events = run.events(call)

    def index(kind: str, pred: Any) -> int:
        return next(i for i, e in enumerate(events) if e["type"] == kind and pred(e))

    def media(name: str) -> Any:
        return lambda e: e["playback"]["media_uri"].endswith(f"/en/{name}")

    started = index("PlaybackStarted", media("main_menu"))
    key = index("ChannelDtmfReceived", lambda e: e["digit"] == "3")
    stopped = index("PlaybackFinished", media("main_menu"))
    closures = index("PlaybackStarted", media("closures_menu"))
    assert started < key < stopped < closures
    played = dt.datetime.fromisoformat(events[stopped]["timestamp"]) - dt.datetime.fromisoformat(
        events[started]["timestamp"]
    )
    assert played < dt.timedelta(seconds=12), "the 25 s main menu was cut short by the key"
    assert [d["digit"] for d in call.path["digits"] if d["node"] == "main"] == ["3"]
