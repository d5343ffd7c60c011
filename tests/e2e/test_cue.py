"""The language cue (`line311.sim.cue`) on a real Asterisk: a caller keys as the language menu
starts, and a second watcher of the same Asterisk (``line311 demo`` beside the tests' own)
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.sim.cue import PromptCue
from line311.sim.sipp import ON_CUE, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import record_for, running_stack
from tests.e2e.stack import AriObserver, Stack

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(asterisk_instance, tmp_path_factory.mktemp("cue-stack")) as s:
        yield s


def test_given_two_watchers_when_the_language_menu_starts_then_the_caller_keys_once_and_the_second_cue_changes_nothing(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    known = {r["call_id"] for r in stack.calls()}
    i = asterisk_instance
    second = PromptCue(i.ari_url, i.ari_user, i.ari_password)  # besides the session's own
    try:
        app = httpx.get(
            f"{i.ari_url}/ari/applications/{second._app}",
            auth=(i.ari_user, i.ari_password),
            timeout=5,
        ).json()
        allowed = {e["type"] for e in app["events_allowed"]}
        assert allowed == {
            "PlaybackStarted",
            "PlaybackContinuing",
            "ChannelDestroyed",
            "ChannelDtmfReceived",
        }
        caller = start_caller(tmp_path / "caller", i.sip_port, "311", dtmf=[(ON_CUE, "2")])
        result = caller.wait(timeout=90)
    finally:
        second.close()

    cued = [c for c in second.sent if c.startswith(f"cue{caller.local_port}-")]
    assert len(cued) == 1, second.sent  # the call was cued twice: by each watcher
    assert result.returncode == 0, result.log[-2000:]
    assert result.final_status == 200
    # one cue from each watcher (more only if the key came a second or more after them)
    assert result.requests.count("NOTIFY") >= 2
    record: dict[str, Any] = record_for(stack, "311", known, timeout=30)
    assert record["language"] == "es"
    assert record["path"]["language_selected_by"] == "dtmf"
    digits = record["path"]["digits"]
    assert [(d["digit"], d["node"], bool(d.get("ignored"))) for d in digits] == [
        ("2", "language", False)
    ]  # keyed once, while the language menu played: never during the greeting
    started = [
        e["playback"]["media_uri"].rsplit("/", 2)[-2:]
        for e in observer.find(lambda e: e.get("type") == "PlaybackStarted")
        if e["playback"]["target_uri"] == f"channel:{record['call_id']}"
    ]
    assert ["en", "language_option"] in started
    assert started[-1] == ["es", "main_menu"]
