"""Issue 7, end to end: supervisors push announcements that 311 callers hear, through a real
Asterisk, real SIPp calls and real ``line311 serve`` / ``crm-bridge`` processes.

A supervisor dials ``*80`` from a CCR phone (SIPp with digest auth), signs in with the PIN
set by ``line311 alerts set-pin``, records real speech (RTP from a pcap) after the tone and
submits it; a second supervisor approves it over the API (four-eyes); the next 311 caller
hears it right after the greeting and after withdrawal the following one does not. Wrong
PINs lock the line. Alerts made on the screen (typed text read by TTS, an uploaded file)
are played by Asterisk to the end. An independent ARI observer tells what Asterisk played.

The 311 flow here is greeting -> alerts -> hang up (the shipped flow goes on to the menus).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.sim.sipp import SPEECH, SippResult, start_caller, start_feature_call
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import playbacks, record_for, running_stack
from tests.e2e.stack import AriObserver, Stack, wait_until

pytestmark = pytest.mark.asterisk

SOUNDS = "sound:/var/lib/line311/sounds"
FLOW = """\
flow: greeting-alerts
version: 1
start: greeting
nodes:
  greeting: {kind: play, prompts: [greeting], next: alerts}
  alerts: {kind: alerts, next: end}
  end: {kind: hangup}
  representative: {kind: queue, topic: general}
"""
PHONE_ID, PIN = "4711", "2468"
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("alerts")
    flow = workdir / "flow.yaml"
    flow.write_text(FLOW)
    with running_stack(asterisk_instance, workdir, {"LINE311_FLOW_FILE": str(flow)}) as s:
        s.cli("alerts", "set-pin", "maria", "--phone-id", PHONE_ID, "--pin", PIN)
        yield s


# ---------------------------------------------------------------------- helpers
def token(stack: Stack, username: str) -> str:
    """A bearer token of supervisor ``username`` (the dashboard's sign-in)."""
    stack.cli(
        "accounts", "create", username, "--role", "supervisor", "--password-stdin",
        stdin="correct horse battery staple\n", check=False,
    )  # fmt: skip
    return stack.cli("accounts", "token", username).stdout.strip().splitlines()[-1]


def api(stack: Stack, username: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{stack.http_port}",
        headers={"Authorization": f"Bearer {token(stack, username)}"},
        timeout=30,
    )


def cli_alerts(stack: Stack) -> list[dict[str, Any]]:
    return list(json.loads(stack.cli("alerts", "list", "--json").stdout))


def feature_call(
    tmp_path: Path, instance: AsteriskInstance, agent: str, steps: list[tuple[int, str]], **kw: Any
) -> SippResult:
    phone = start_feature_call(
        tmp_path / f"phone-{next(_seq)}",
        instance.sip_port,
        agent,
        instance.settings.agent_password.get_secret_value(),
        dtmf=steps,
        **kw,
    )
    return phone.wait(timeout=120)


def call_311(
    stack: Stack, tmp_path: Path, instance: AsteriskInstance
) -> tuple[SippResult, dict[str, Any]]:
    """One resident's call to 311; returns SIPp's view and the call record."""
    known = {r["call_id"] for r in stack.calls()}
    caller = start_caller(
        tmp_path / f"caller-{next(_seq)}", instance.sip_port, "311", hold_ms=45000
    )
    result = caller.wait(timeout=90)
    assert result.final_status == 200, result.statuses
    assert result.remote_hung_up, "the flow hangs up after the alerts"
    record = record_for(stack, "311", known)
    shown = stack.cli("calls", "show", record["call_id"], "--json").stdout
    return result, dict(json.loads(shown))


def played(observer: AriObserver, channel: str, kind: str = "PlaybackStarted") -> list[str]:
    """Media (``lang/prompt``) of the ``kind`` playback events on ``channel``, in order;
    for PlaybackFinished, ``media@state``."""
    out = []
    for p in playbacks(observer, kind=kind):
        if p["target_uri"] != f"channel:{channel}":
            continue
        media = str(p["media_uri"]).removeprefix(SOUNDS + "/")
        out.append(media if kind == "PlaybackStarted" else f"{media}@{p['state']}")
    return out


def supervisor_channels(observer: AriObserver) -> list[str]:
    """Channels that dialled the supervisor line, in order."""
    return [
        e["channel"]["id"]
        for e in observer.snapshot()
        if e.get("type") == "ChannelDialplan"
        and e.get("dialplan_app") == "Stasis"
        and "agent-feature,*80" in e.get("dialplan_app_data", "")
    ]


def utc(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


# ---------------------------------------------------------------------- recorded by phone
# After answer: id, PIN (play_dtmf runs in the background, ~0.5 s a digit: the waits leave
# room), then (sign-in, 4.7 s instructions, beep) 7 s of speech, '#', then barge into each
# menu: keep (1), English (1), all callers (1), 1 hour (1#), submit (1).
RECORD_BY_PHONE = [
    (1000, f"{PHONE_ID}#"),
    (3500, f"{PIN}#"),
    (8500, SPEECH),
    (8000, "#"),
    (4000, "1"),
    (1500, "1"),
    (1500, "1"),
    (1500, "1#"),
    (2000, "1"),
]


def test_given_a_supervisor_with_a_pin_when_they_record_by_phone_and_a_second_supervisor_approves_then_the_next_caller_hears_it_after_the_greeting_until_it_is_withdrawn(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    phone = feature_call(tmp_path, asterisk_instance, "agent1", RECORD_BY_PHONE, hold_ms=20000)

    assert phone.final_status == 200, phone.statuses
    assert phone.remote_hung_up, "the line hangs up after 'submitted'"
    channel = supervisor_channels(observer)[-1]
    heard = played(observer, channel, "PlaybackFinished")
    assert "en/sup_submitted@done" in heard, heard
    assert any(m.startswith("recording:") for m in played(observer, channel)), "no listen-back"
    pending = [a for a in cli_alerts(stack) if a["author"] == "maria"]
    assert len(pending) == 1, pending
    alert = pending[0]
    assert alert["state"] == "pending_approval"
    assert alert["audio"]["en"]["source"] == "phone"
    assert alert["audio"]["en"]["duration"] > 2.0  # the speech, not a stub

    with api(stack, "duty-supervisor") as second:
        try:
            approved = second.post(
                f"/api/alerts/{alert['id']}/approve", json={"note": "e2e four-eyes"}
            )
            assert approved.status_code == 200, approved.text
            wait_until(
                lambda: second.get(f"/api/alerts/{alert['id']}").json()["state"] == "active",
                15,
                "active",
            )

            _, record = call_311(stack, tmp_path, asterisk_instance)

            started = played(observer, record["call_id"])
            assert started[:2] == ["en/greeting", f"en/alerts/{alert['id']}"], started
            finished = played(observer, record["call_id"], "PlaybackFinished")
            assert f"en/alerts/{alert['id']}@done" in finished, finished
            heard = [a["prompt_id"] for a in record["path"]["alerts"]]
            assert heard == [f"alerts/{alert['id']}"], record["path"]["alerts"]
        finally:
            withdrawn = second.post(
                f"/api/alerts/{alert['id']}/withdraw", json={"note": "e2e over"}
            )
            assert withdrawn.status_code == 200, withdrawn.text

    _, after = call_311(stack, tmp_path, asterisk_instance)

    assert played(observer, after["call_id"]) == ["en/greeting"]
    assert after["path"]["alerts"] == []


# ---------------------------------------------------------------------- lockout
def sign_in_call(
    tmp_path: Path, instance: AsteriskInstance, pin: str, hold_ms: int = 4000
) -> SippResult:
    """A sign-in on agent2's phone (its own line: the lock is per phone)."""
    steps = [(1000, f"{PHONE_ID}#"), (3500, f"{pin}#")]
    return feature_call(tmp_path, instance, "agent2", steps, hold_ms=hold_ms)


def wrong_pin_heard(observer: AriObserver, channel: str) -> list[str] | None:
    heard = played(observer, channel)
    return heard if "en/sup_wrong_pin" in heard else None


def test_given_the_supervisor_line_when_a_wrong_pin_is_entered_three_times_then_the_line_locks_and_refuses_even_the_right_pin(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    for _ in range(2):
        assert sign_in_call(tmp_path, asterisk_instance, "9999").final_status == 200
        heard = wait_until(
            lambda: wrong_pin_heard(observer, supervisor_channels(observer)[-1]), 10, "wrong PIN"
        )
        assert "en/sup_locked" not in heard

    third = sign_in_call(tmp_path, asterisk_instance, "9999", hold_ms=15000)
    channel = supervisor_channels(observer)[-1]
    assert third.remote_hung_up, "a locked line hangs up"
    assert "en/sup_locked@done" in played(observer, channel, "PlaybackFinished")

    fourth = sign_in_call(tmp_path, asterisk_instance, PIN, hold_ms=15000)  # the right PIN
    channel = supervisor_channels(observer)[-1]
    assert fourth.remote_hung_up
    heard = played(observer, channel)
    assert "en/sup_locked" in heard, heard
    assert not any(m.startswith("en/sup_record") for m in heard), heard


# ---------------------------------------------------------------------- screen: TTS, upload
def make_upload(path: Path) -> Path:
    """A 3-second mp3 of tones (any format works; mp3 is the common case)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "sine=frequency=440:duration=3:sample_rate=44100", "-ac", "1", str(path)],
        check=True, timeout=30,
    )  # fmt: skip
    return path


def test_given_alerts_made_on_the_screen_when_approved_then_asterisk_plays_the_tts_and_the_uploaded_audio_to_the_end(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    window = {"starts_at": utc(), "ends_at": utc(timedelta(hours=1))}
    with api(stack, "author-supervisor") as author, api(stack, "duty-supervisor") as approver:
        typed = author.post(
            "/api/alerts",
            json={"title": "e2e typed", "kind": "ivr_announcement", "priority": 1, **window,
                  "texts": {"en": "Alternate side parking is suspended today."}},
        )  # fmt: skip
        assert typed.status_code == 201, typed.text
        tts = typed.json()["id"]
        assert author.post(f"/api/alerts/{tts}/synthesize", json={}).status_code == 200

        uploaded = author.post(
            "/api/alerts",
            json={"title": "e2e upload", "kind": "ivr_announcement", "priority": 2, **window},
        )
        assert uploaded.status_code == 201, uploaded.text
        upl = uploaded.json()["id"]
        mp3 = make_upload(tmp_path / "notice.mp3")
        put = author.put(
            f"/api/alerts/{upl}/audio/en",
            files={"file": ("notice.mp3", mp3.read_bytes(), "audio/mpeg")},
        )
        assert put.status_code == 200, put.text

        for alert_id in (tts, upl):
            assert author.post(f"/api/alerts/{alert_id}/submit", json={}).status_code == 200
            own = author.post(f"/api/alerts/{alert_id}/approve", json={})
            assert own.status_code == 403
            assert own.json()["error_id"] == "four-eyes"
            assert approver.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 200
        wait_until(
            lambda: all(
                approver.get(f"/api/alerts/{i}").json()["state"] == "active" for i in (tts, upl)
            ),
            15,
            "both alerts active",
        )
        try:
            _, record = call_311(stack, tmp_path, asterisk_instance)

            finished = played(observer, record["call_id"], "PlaybackFinished")
            assert finished == [
                "en/greeting@done",
                f"en/alerts/{tts}@done",
                f"en/alerts/{upl}@done",
            ], finished
        finally:
            for alert_id in (tts, upl):
                approver.post(f"/api/alerts/{alert_id}/withdraw", json={})
