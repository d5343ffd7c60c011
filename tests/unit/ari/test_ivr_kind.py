"""The IVR's edge session: its record trimmed to fit, its media in the caller's language."""

from __future__ import annotations

import json

from line311.ari.ivr_kind import MAX_PATH_BYTES, EdgeSession
from line311.call.commands import Play
from line311.call.events import Answered
from line311.ivr.session import CallSession


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


def test_given_a_session_when_it_plays_then_media_is_in_the_callers_language() -> None:
    session = EdgeSession(CallSession("c1", "311", 0.0))
    session.receive(Answered(), 0.0)

    plays = [c for c in session.commands() if isinstance(c, Play)]

    assert plays
    assert plays[0].language == "en"
