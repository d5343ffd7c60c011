"""Issue 16: all seven language menus walked end to end on the real stack.

Seven SIPp callers call the shipped 311 flow at once; each presses one language digit (1..7)
as the language menu starts (`line311.sim.cue`) and listens to the main menu. An independent ARI observer tells which
prompts Asterisk really played on each channel, and ``line311 calls list`` the path the
controller recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from line311.ivr.flow import LANGUAGES
from line311.sim.sipp import ON_CUE, SippResult, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import running_stack
from tests.e2e.stack import AriObserver, Stack, wait_until

pytestmark = pytest.mark.asterisk

SOUNDS = "sound:/var/lib/line311/sounds/"


class Walk:
    """The seven calls: SIPp's view, the call records and what Asterisk played, by language."""

    def __init__(
        self, results: dict[str, SippResult], records: dict[str, dict[str, Any]], events: list[Any]
    ) -> None:
        self.results = results
        self.records = records
        self.events = events

    def started(self, language: str) -> list[str]:
        """Media (``lang/prompt``) of the playbacks started on the caller's channel, in order."""
        channel = f"channel:{self.records[language]['call_id']}"
        return [
            e["playback"]["media_uri"].removeprefix(SOUNDS)
            for e in self.events
            if e.get("type") == "PlaybackStarted" and e["playback"]["target_uri"] == channel
        ]


@pytest.fixture(scope="module")
def walk(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Walk]:
    workdir = tmp_path_factory.mktemp("languages")
    observer = AriObserver(
        asterisk_instance.ari_url, asterisk_instance.ari_user, asterisk_instance.ari_password
    )
    try:
        with running_stack(asterisk_instance, workdir) as stack:
            known = {r["call_id"] for r in stack.calls()}
            callers = {
                language: start_caller(
                    workdir / f"caller-{language}",
                    asterisk_instance.sip_port,
                    "311",
                    dtmf=[(ON_CUE, str(digit))],
                    hold_ms=4_000,
                )
                for digit, language in enumerate(LANGUAGES, start=1)
            }
            results = {language: c.wait(timeout=90) for language, c in callers.items()}
            # records reach the bridge through the spool: under load a post that times out (5 s)
            # is retried with backoff, so allow a few retries (a loaded CI run took over 30 s)
            records = wait_until(
                lambda: _records(stack, known), 90, "seven finished call records", step=0.5
            )
            yield Walk(results, records, observer.snapshot())
    finally:
        observer.close()


def _records(stack: Stack, known: set[str]) -> dict[str, dict[str, Any]] | None:
    fresh = [r for r in stack.calls() if r["call_id"] not in known]  # each with its path
    if len(fresh) < len(LANGUAGES):
        return None
    return {rec["language"]: rec for rec in fresh}


@pytest.mark.parametrize(("digit", "language"), list(enumerate(LANGUAGES, start=1)))
def test_given_the_language_menu_when_the_caller_presses_a_digit_then_the_main_menu_plays_in_that_language(
    walk: Walk, digit: int, language: str
) -> None:
    assert sorted(walk.records) == sorted(LANGUAGES), "one call per language"
    record = walk.records[language]
    assert walk.results[language].final_status == 200
    assert record["path"]["language_selected_by"] == "dtmf"
    assert [d["digit"] for d in record["path"]["digits"] if not d.get("ignored")] == [str(digit)]
    assert [n["node"] for n in record["path"]["nodes"]] == [
        "greeting",
        "alerts",
        "language",
        "main",
    ]
    started = walk.started(language)
    # the language menu offers each language in its own voice, then the choice is kept
    chosen_at = started.index(f"{language}/main_menu")
    assert {m.split("/")[0] for m in started[:chosen_at] if m.endswith("language_option")} <= set(
        LANGUAGES
    )
    assert f"{LANGUAGES[0]}/language_option" in started[:chosen_at]
    assert all(m.startswith(f"{language}/") for m in started[chosen_at:]), started
