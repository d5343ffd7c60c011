"""Issue 16 (point 4), end to end: alerts targeted at a language or at a menu node reach the
callers they target, through a real Asterisk, real SIPp callers and real ``line311 serve`` /
``crm-bridge`` processes.

Two alerts are made over the API (uploaded audio, approved by a second supervisor): one for
Spanish callers, one for callers entering the ``notice`` menu. A caller who picks Spanish (2)
hears the Spanish one once, right after the choice, and the node one on entering the node;
a caller who picks English hears only the node one. An independent ARI observer (subscribed
to everything) tells which media Asterisk played on which channel, and after which key.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.sim.sipp import ON_CUE, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import record_for, running_stack
from tests.e2e.stack import AriObserver, Stack, wait_until
from tests.e2e.test_alerts import api, utc

# The first test also starts the stack and makes two alerts (uploads, approvals) on a
# shared machine: more than the default 120 s budget when the machine is busy.
pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(300)]

SOUNDS = "sound:/var/lib/line311/sounds/"
FLOW = """\
flow: targeted-alerts
version: 1
start: greeting
settings: {digit_timeout: 20, language_timeout: 20}
nodes:
  greeting: {kind: play, prompts: [no_input], next: alerts}   # a short stand-in greeting
  alerts: {kind: alerts, next: language}
  language: {kind: language, prompt: language_option, options: {"1": en, "2": es}, next: main}
  main: {kind: menu, topic: general, prompts: [sr_please_wait], options: {"1": notice}}
  notice: {kind: menu, topic: general, prompts: [invalid_choice], options: {"1": end}}
  end: {kind: hangup, prompts: [goodbye]}
  representative: {kind: queue, topic: general}
"""
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("alerts-targeted")
    flow = workdir / "flow.yaml"
    flow.write_text(FLOW)
    with running_stack(asterisk_instance, workdir, {"LINE311_FLOW_FILE": str(flow)}) as s:
        yield s


def tone(path: Path, frequency: int) -> Path:
    """A 2-second tone file to upload as an alert's audio."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency={frequency}:duration=2:sample_rate=8000", "-ac", "1", str(path)],
        check=True, timeout=30,
    )  # fmt: skip
    return path


def make_alert(
    author: httpx.Client, approver: httpx.Client, tmp_path: Path, language: str, **target: Any
) -> str:
    """An IVR alert with uploaded audio in ``language``, targeted as given, made live."""
    created = author.post(
        "/api/alerts",
        json={"title": f"e2e {target}", "kind": "ivr_announcement", "starts_at": utc(),
              "ends_at": utc(timedelta(hours=1)), **target},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    alert_id = str(created.json()["id"])
    audio = tone(tmp_path / f"{alert_id}.wav", 440 + 220 * next(_seq))
    put = author.put(
        f"/api/alerts/{alert_id}/audio/{language}",
        files={"file": (audio.name, audio.read_bytes(), "audio/wav")},
    )
    assert put.status_code == 200, put.text
    assert author.post(f"/api/alerts/{alert_id}/submit", json={}).status_code == 200
    assert approver.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 200
    return alert_id


@pytest.fixture(scope="module")
def alerts(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A live alert for Spanish callers and one for callers entering ``notice``."""
    tmp_path = tmp_path_factory.mktemp("alert-audio")
    with api(stack, "author-supervisor") as author, api(stack, "duty-supervisor") as approver:
        made = {
            "spanish": make_alert(author, approver, tmp_path, "es", languages=["es"]),
            "node": make_alert(author, approver, tmp_path, "en", node="notice"),
        }
        wait_until(
            lambda: all(
                approver.get(f"/api/alerts/{i}").json()["state"] == "active" for i in made.values()
            ),
            15,
            "both alerts active",
        )
        try:
            yield made
        finally:
            for alert_id in made.values():
                approver.post(f"/api/alerts/{alert_id}/withdraw", json={})


def call_311(
    stack: Stack, tmp_path: Path, instance: AsteriskInstance, language_key: str
) -> dict[str, Any]:
    """A caller who waits out the greeting, picks a language, enters ``notice`` (1), then
    leaves it (1). Waits are relative: greeting 2 s (it cannot be skipped), language menu
    5 s; each alert 2 s (a key during it would be ignored), then the menu prompt, which the
    next key may cut short."""
    known = {r["call_id"] for r in stack.calls()}
    caller = start_caller(
        tmp_path / f"caller-{next(_seq)}",
        instance.sip_port,
        "311",
        dtmf=[(ON_CUE, language_key), (6000, "1"), (6000, "1")],
        hold_ms=30000,
    )
    result = caller.wait(timeout=120)
    assert result.final_status == 200, result.statuses
    assert result.remote_hung_up, "the flow hangs up after goodbye"
    record = record_for(stack, "311", known)
    shown = stack.cli("calls", "show", record["call_id"], "--json").stdout
    return dict(json.loads(shown))


def channel_story(observer: AriObserver, channel: str) -> list[str]:
    """What happened on ``channel``, in Asterisk's order: ``key:<digit>`` for each DTMF
    received and the media (``lang/prompt``) of each playback started."""
    story = []
    for event in observer.snapshot():
        kind = event.get("type")
        if kind == "ChannelDtmfReceived" and event["channel"]["id"] == channel:
            story.append(f"key:{event['digit']}")
        elif kind == "PlaybackStarted" and event["playback"]["target_uri"] == f"channel:{channel}":
            story.append(str(event["playback"]["media_uri"]).removeprefix(SOUNDS))
    return story


def test_given_a_spanish_alert_and_a_node_alert_when_a_caller_picks_spanish_then_each_plays_once_at_its_moment(
    stack: Stack,
    alerts: dict[str, str],
    asterisk_instance: AsteriskInstance,
    observer: AriObserver,
    tmp_path: Path,
) -> None:
    spanish, node = f"alerts/{alerts['spanish']}", f"alerts/{alerts['node']}"

    record = call_311(stack, tmp_path, asterisk_instance, "2")

    story = channel_story(observer, record["call_id"])
    assert story.count(f"es/{spanish}") == 1, story
    assert story.count(f"en/{node}") == 1, story
    assert not any(s.endswith(spanish) and not s.startswith("es/") for s in story), story
    # the Spanish alert right after the choice, before the Spanish main menu
    chose = story.index("key:2")
    assert story[chose + 1 : chose + 3] == [f"es/{spanish}", "es/sr_please_wait"], story
    # the node alert on entering the node, before the node's own prompt
    entered = story.index("key:1")
    assert story[entered + 1 : entered + 3] == [f"en/{node}", "es/invalid_choice"], story
    assert story[0] == "en/no_input"
    path = record["path"]
    assert [(a["alert_id"], a["node"]) for a in path["alerts"]] == [
        (alerts["spanish"], "main"),
        (alerts["node"], "notice"),
    ], path["alerts"]


def test_given_a_spanish_alert_and_a_node_alert_when_a_caller_picks_english_then_only_the_node_one_plays(
    stack: Stack,
    alerts: dict[str, str],
    asterisk_instance: AsteriskInstance,
    observer: AriObserver,
    tmp_path: Path,
) -> None:
    spanish, node = f"alerts/{alerts['spanish']}", f"alerts/{alerts['node']}"

    record = call_311(stack, tmp_path, asterisk_instance, "1")

    story = channel_story(observer, record["call_id"])
    assert not any(s.endswith(spanish) for s in story), story
    assert story.count(f"en/{node}") == 1, story
    chose = story.index("key:1")
    assert story[chose + 1] == "en/sr_please_wait", story
    entered = story.index("key:1", chose + 1)
    assert story[entered + 1 : entered + 3] == [f"en/{node}", "en/invalid_choice"], story
    assert [a["alert_id"] for a in record["path"]["alerts"]] == [alerts["node"]]
