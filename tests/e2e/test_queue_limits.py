"""Issue 16 (6), end to end: what a caller at the queue's limits hears.

Real Asterisk, real SIPp callers through the shipped IVR (language digit, then 0) into a
``general`` queue with a 1-second maximum wait and no CCR logged in, so every caller reaches
the limit. An independent ARI observer records what Asterisk really played on each channel.

    caller   language  after the "0"                   expects
    taker    en        1, 20 s later (during the       apology + offer, "we will call you back",
                       offer, which starts ~5 s after) hung up; the call keeps its queue place
    decliner es        nothing                         apology + offer, "how to reach us",
                                                       hung up; a timeout after an offer

The limits are the smallest that keep that window: the decliner waits out the whole offer
and its answer time, so every second of them is a second of this test. The offer starts
about 3.7 s (transfer prompt) + 1 s (max wait) after the "0" and lasts 11 s in English, then
10 s to press 1 (window ~4.7-25.6 s after the "0"); the taker's 1 comes 20 s after the "0",
inside that window even when a loaded machine delays the queue entry by 15 s.
Every synchronisation is a bounded poll.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.db.engine import make_engine
from line311.db.queue_models import load_events
from line311.queue.events import CallbackRequested, CallEnqueued, CallTimedOut
from line311.queue.queue_log import parse_lines
from line311.sim.sipp import ON_CUE, SippCaller, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import playbacks, running_stack
from tests.e2e.stack import AriObserver, Stack, wait_until

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(300)]  # a minute of calls

CALLER = "2125550163"
SOUNDS = "sound:/var/lib/line311/sounds"
MAX_WAIT_QUEUE = """\
queues:
  general:
    requires: "topic:general"
    wrapup_seconds: 1
    max_wait: 1
    interpreter_when_unstaffed: false
"""


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("limits-stack")
    queues = workdir / "queues.yaml"
    queues.write_text(MAX_WAIT_QUEUE)
    env = {
        "LINE311_QUEUES_FILE": str(queues),
        "LINE311_QUEUE_PERIODIC_INTERVAL": "0",
        "LINE311_QUEUE_ANNOUNCE_FIRST": "600",  # no position message in the way
        "LINE311_QUEUE_MAX_WAIT_OFFER_TIMEOUT": "10",
    }
    with running_stack(asterisk_instance, workdir, env) as s:
        yield s


def _caller(
    tmp_path: Path,
    instance: AsteriskInstance,
    name: str,
    language_digit: str,
    after: list[tuple[int, str]],
) -> SippCaller:
    """A caller who picks a language, presses 0 for a representative, then keys ``after``."""
    return start_caller(
        tmp_path / name,
        instance.sip_port,
        "311",
        from_user=CALLER,
        dtmf=[(ON_CUE, language_digit), (1_500, "0"), *after],
        hold_ms=150_000,
    )


def _stored(stack: Stack) -> list[Any]:
    engine = make_engine(stack.env["LINE311_DATABASE_URL"])
    try:
        return load_events(engine, 0, time.time() + 86_400)
    finally:
        engine.dispose()


def _queue_log(stack: Stack) -> list[Any]:
    path = Path(stack.env["LINE311_STATE_DIR"]) / "queue_log"
    return list(parse_lines(path.read_text().splitlines())) if path.exists() else []


def _media(observer: AriObserver, channel_id: str, kind: str) -> list[str]:
    return [
        p["media_uri"].removeprefix(SOUNDS + "/")
        for p in playbacks(observer, None, kind)
        if p["target_uri"] == f"channel:{channel_id}"
    ]


def test_given_max_wait_reached_when_one_caller_keys_1_and_one_does_not_then_one_keeps_a_callback_place_and_the_other_hears_how_to_reach_us(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    taker = _caller(tmp_path, asterisk_instance, "taker", "1", [(20_000, "1")])
    decliner = _caller(tmp_path, asterisk_instance, "decliner", "2", [])
    try:
        taken = taker.wait(timeout=180)
        declined = decliner.wait(timeout=180)
    finally:
        taker.kill()
        decliner.kill()
    assert taken.final_status == 200
    assert declined.final_status == 200
    assert taken.remote_hung_up, "line311 should hang up after confirming the callback"
    assert declined.remote_hung_up, "line311 should hang up after the goodbye"

    def both_recorded() -> list[Any] | None:
        events = _stored(stack)
        done = [e for e in events if isinstance(e, CallbackRequested | CallTimedOut)]
        return events if len(done) >= 2 else None

    events = wait_until(both_recorded, 20, "both outcomes in the database", step=0.5)
    languages = {e.call_id: e.language for e in events if isinstance(e, CallEnqueued)}
    by_language = {language: call_id for call_id, language in languages.items()}
    assert sorted(by_language) == ["en", "es"], languages
    taker_id, decliner_id = by_language["en"], by_language["es"]

    # the taker: apology + offer (cut short by the 1), the confirmation, a callback place
    heard = _media(observer, taker_id, "PlaybackStarted")
    assert heard[-2:] == ["en/queue/max_wait_offer", "en/queue/callback_confirmed"], heard
    requests = [e for e in events if isinstance(e, CallbackRequested)]
    assert len(requests) == 1, events
    (requested,) = requests
    assert (requested.call_id, requested.at_max_wait) == (taker_id, True)
    assert [r.event for r in _queue_log(stack) if r.call_id == taker_id] == [
        "ENTERQUEUE",
        "CALLBACKREQUESTED",
    ]
    token = stack.supervisor_token()
    r = httpx.get(
        f"http://127.0.0.1:{stack.http_port}/api/desk/queues",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    (general,) = [q for q in r.json()["queues"] if q["queue"] == "general"]
    assert (general["waiting"], general["callbacks_waiting"]) == (1, 1)

    # the decliner: the whole offer, then the goodbye, both in Spanish, then the hang-up
    heard = _media(observer, decliner_id, "PlaybackFinished")
    assert heard[-2:] == ["es/queue/max_wait_offer", "es/queue/max_wait_goodbye"], heard
    (timed_out,) = [e for e in events if isinstance(e, CallTimedOut)]
    assert (timed_out.call_id, timed_out.callback_offered) == (decliner_id, True)
    assert [r.event for r in _queue_log(stack) if r.call_id == decliner_id] == [
        "ENTERQUEUE",
        "EXITWITHTIMEOUT",
    ]
    assert CALLER not in stack.logs()
