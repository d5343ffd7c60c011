"""The dialplan twin (``3119``) plays what the product plays at the start of a call (issue 13).

``python -m bench capacity`` compares the product with the twin; the comparison means
something only while both open a call with the same audio. One call to each, side by side:
the product's PlaybackStarted media (controller) and the twin's Playback/Background files
(dialplan apps, seen as ChannelDialplan events) must name the same prompts in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from line311.sim.sipp import start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.capacity import TWIN_NUMBER
from tests.e2e.conftest import running_stack
from tests.e2e.stack import AriObserver, Stack

pytestmark = pytest.mark.asterisk

OPENING = 8  # the greeting + the language menu in seven languages


@pytest.fixture
def stack(asterisk_instance: AsteriskInstance, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(asterisk_instance, tmp_path) as s:
        yield s


def _prompt(path: str) -> str:
    """``sound:/x/y/en/greeting`` or ``/x/y/en/greeting`` -> ``en/greeting``."""
    return "/".join(path.removeprefix("sound:").split("/")[-2:])


def _product_prompts(events: list[dict[str, Any]]) -> list[str]:
    return [
        _prompt(e["playback"]["media_uri"])
        for e in events
        if e.get("type") == "PlaybackStarted"
        and str(e["playback"].get("target_uri", "")).startswith("channel:")
    ]


def _twin_apps(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (e["dialplan_app"], e.get("dialplan_app_data", ""))
        for e in events
        if e.get("type") == "ChannelDialplan"
        and e["channel"]["dialplan"]["context"] == "line311-twin"
    ]


def test_given_a_call_to_the_product_and_one_to_the_twin_then_both_open_with_the_same_prompts(
    stack: Stack, asterisk_instance: AsteriskInstance, observer: AriObserver, tmp_path: Path
) -> None:
    port = asterisk_instance.sip_port
    product = start_caller(tmp_path / "product", port, "311", hold_ms=28_000)
    twin = start_caller(tmp_path / "twin", port, TWIN_NUMBER, hold_ms=14_000)
    assert twin.wait(60).final_status == 200
    assert product.wait(60).final_status == 200

    events = observer.snapshot()
    apps = _twin_apps(events)
    assert apps[0] == ("Answer", "")
    twin_prompts = [
        _prompt(item)
        for app, data in apps
        if app.lower() in ("playback", "background")
        for item in data.split("&")
    ]
    assert twin_prompts[:OPENING] == _product_prompts(events)[:OPENING], (
        twin_prompts,
        _product_prompts(events),
    )
    assert twin_prompts[0] == "en/greeting"
    assert len(_product_prompts(events)) >= OPENING, "the product played its whole opening"
