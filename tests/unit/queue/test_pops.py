"""The screen-pop builder (pure): the IVR summary, the skills asked, the JSON shape, and that
no caller number ever gets in."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from line311.queue.pops import (
    AnsweredCall,
    IvrSummary,
    SrLookedUp,
    build_screen_pop,
    skills_asked,
    summarize_ivr,
)
from line311.routing.queues import load_queues

T0 = 1_700_000_000.0
NUMBER = "2125550147"
QUEUES = load_queues(
    {
        "general": {"requires": "topic:general"},
        "housing": {"requires": "topic:housing>=3", "language_min_proficiency": 3},
    }
)


def path_record() -> dict[str, Any]:
    """A session path record as the IVR writes it, salted with the caller's number where a
    careless flow might put it."""
    return {
        "call_id": "c1",
        "dialed_number": "311",
        "caller_number": NUMBER,
        "started_at": T0,
        "answered_at": T0 + 0.5,
        "language": "es",
        "language_selected_by": "dtmf",
        "nodes": [
            {"node": "greeting", "at": T0 + 1},
            {"node": "language", "at": T0 + 3},
            {"node": "main", "at": T0 + 6},
            {"node": "main", "at": T0 + 9},
            {"node": "sr_status", "at": T0 + 12},
            {"node": "main", "at": T0 + 30},
        ],
        "digits": [{"digit": d, "node": "sr_status", "at": T0 + 13} for d in NUMBER],
        "prompts": [{"prompt_id": "greeting", "language": "en", "at": T0 + 1}],
        "alerts": [
            {"prompt_id": "alert-snow", "at": T0 + 2},
            {"prompt_id": "alert-missing", "at": T0 + 2, "failed": True},
        ],
        "self_service": [{"info": "parking_rules", "at": T0 + 8}],
        "sr_lookups": [
            {"sr_number": "311000000019", "result": "found", "status": "open", "at": T0 + 20},
            {"sr_number": "311000000027", "result": "not_found", "status": None, "at": T0 + 25},
        ],
        "referral": None,
        "queue": {"language": "es", "topic": "general", "priority": 0, "at": T0 + 31},
        "exit": "representative-requested",
        "outcome": "queued",
    }


def answered(**kw: Any) -> AnsweredCall:
    values: dict[str, Any] = {
        "call_id": "c1",
        "agent_id": "agent2",
        "queue": "general",
        "language": "es",
        "topic": "general",
        "entered_at": T0 + 31,
        "answered_at": T0 + 43.25,
    }
    values.update(kw)
    return AnsweredCall(**values)


def test_the_ivr_summary_keeps_the_nodes_lookups_alerts_and_information_heard() -> None:
    summary = summarize_ivr(path_record())
    assert summary.nodes == ("greeting", "language", "main", "sr_status", "main")
    assert summary.language_selected_by == "dtmf"
    assert summary.alerts == ("alert-snow",)  # the prompt that failed was not heard
    assert summary.self_service == ("parking_rules",)
    assert summary.sr_lookups == (
        SrLookedUp("311000000019", "found", "open"),
        SrLookedUp("311000000027", "not_found", None),
    )
    assert summary.exit == "representative-requested"
    assert summary.ivr_seconds == pytest.approx(30.5)


@pytest.mark.parametrize(
    "path",
    [
        None,
        {},
        {"nodes": "main", "sr_lookups": 7, "alerts": [None, 3], "queue": "general"},
        {"nodes": [{"node": 5}, {"x": 1}], "sr_lookups": [{"sr_number": "1"}]},
        {"answered_at": True, "queue": {"at": "soon"}, "exit": ""},
    ],
)
def test_a_malformed_path_record_gives_an_empty_summary_and_never_raises(path: Any) -> None:
    assert summarize_ivr(path) == IvrSummary()


def test_the_pop_joins_the_answer_and_the_ivr_summary_and_is_json_ready() -> None:
    skills = skills_asked(QUEUES["general"], "es")
    pop = build_screen_pop(answered(), summarize_ivr(path_record()), skills)
    assert pop.wait_seconds == pytest.approx(12.25)
    data = json.loads(json.dumps(pop.to_json()))
    assert data["call_id"] == "c1"
    assert data["agent_id"] == "agent2"
    assert (data["queue"], data["language"], data["topic"]) == ("general", "es", "general")
    assert data["skills"] == ["lang:es", "topic:general"]
    assert (data["callback"], data["interpreter"]) == (False, False)
    assert datetime.fromisoformat(data["answered_at"]).timestamp() == T0 + 43.25
    assert data["answered_ts"] == T0 + 43.25
    assert data["ivr"]["sr_lookups"][0] == {
        "sr_number": "311000000019",
        "result": "found",
        "status": "open",
    }
    assert data["ivr"]["nodes"][-1] == "main"


def test_the_pop_never_carries_the_callers_number_nor_their_digits() -> None:
    pop = build_screen_pop(answered(), summarize_ivr(path_record()), ["lang:es"])
    text = json.dumps(pop.to_json())
    assert NUMBER not in text
    assert "caller" not in text
    assert "digits" not in text


def test_without_an_ivr_summary_the_pop_still_has_the_queue_facts() -> None:
    pop = build_screen_pop(answered(callback=True, answered_at=T0), None, ())
    assert pop.ivr == IvrSummary()
    assert pop.callback is True
    assert pop.wait_seconds == 0.0  # never negative
    assert pop.to_json()["ivr"]["ivr_seconds"] is None


def test_the_skills_asked_follow_the_queue_the_language_and_the_interpreter() -> None:
    housing = QUEUES["housing"]
    assert skills_asked(housing, "ru") == ("lang:ru>=3", "topic:housing>=3")
    assert skills_asked(housing, "ru", interpreter=True) == ("lang:en>=3", "topic:housing>=3")
    assert skills_asked(None, "en", extra=[("lang:en", 4), ("tier:2", 1)]) == (
        "lang:en>=4",
        "tier:2",
    )
