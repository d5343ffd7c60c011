"""The live journal's fact codec and its reading of which calls still wait (no Redis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from line311.dashboard.facts import AlertRaised, CallLeftIvr
from line311.live.errors import LiveStateError
from line311.live.journal import LiveJournal, decode_fact, encode_fact, open_calls
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)

TYPES = {
    cls.__name__: cls
    for cls in (
        CallEnqueued, CallAnswered, CallAbandoned, CallTimedOut, CallbackRequested,
        CallCompleted, AgentStateChanged, CallLeftIvr,
    )
}  # fmt: skip


def test_given_every_kept_fact_when_encoded_and_decoded_then_equal():
    facts = [
        CallEnqueued("c1", "general", 1.5, "es", "noise", 2),
        CallAnswered("c1", "general", 9.25, "1001"),
        CallCompleted("c1", "general", 70.0, 60.75, 1.0, 5.0, "agent"),
        CallAbandoned("c2", "general", 3.0),
        CallTimedOut("c3", "general", 4.0, "max-wait", True),
        CallbackRequested("c4", "general", 5.0, True),
        AgentStateChanged("1001", AgentActivity.PAUSED, 6.0, "lunch"),
        CallLeftIvr("c5", 7.0, True),
    ]
    for fact in facts:
        assert decode_fact(encode_fact(fact), TYPES) == fact


def test_given_a_type_not_kept_or_garbage_when_decoded_then_none():
    text = encode_fact(CallAbandoned("c2", "general", 3.0))
    assert decode_fact(text, {"CallEnqueued": CallEnqueued}) is None
    assert decode_fact("{not json", TYPES) is None
    assert decode_fact('{"type": "CallAbandoned", "nope": 1}', TYPES) is None


def test_given_facts_when_open_calls_read_then_only_calls_still_waiting():
    facts = [
        CallEnqueued("answered", "general", 1.0),
        CallEnqueued("abandoned", "general", 1.0),
        CallEnqueued("timed-out", "sanitation", 1.0),
        CallEnqueued("callback", "general", 1.0),
        CallEnqueued("waiting", "sanitation", 2.0),
        CallAnswered("answered", "general", 3.0, "1001"),
        CallAbandoned("abandoned", "general", 3.0),
        CallTimedOut("timed-out", "sanitation", 3.0),
        CallbackRequested("callback", "general", 3.0),
        AgentStateChanged("1001", AgentActivity.ON_CALL, 3.0),
    ]
    assert open_calls(facts) == {"callback": "general", "waiting": "sanitation"}


def test_given_facts_across_midnights_and_daylight_saving_then_each_goes_to_its_days_key():
    tz = ZoneInfo("America/New_York")
    journal = LiveJournal(None, [CallEnqueued], tz=tz)  # type: ignore[arg-type]  # no I/O here
    start = datetime(2026, 3, 7, 22, 0, tzinfo=tz)  # DST begins on 8 March, ends on 1 November
    at = start.timestamp()
    for step in range(0, 240 * 24 * 3600, 1800):  # every half hour for 240 days, in order
        t = at + step
        assert journal._facts_key(t) == f"line311:facts:{journal.day_start(t):.0f}"
    local = datetime(2026, 11, 1, 0, 30, tzinfo=tz)  # back again, on the 25-hour day
    for t in (local.timestamp(), (local + timedelta(hours=24, minutes=10)).timestamp(), at):
        assert journal._facts_key(t) == f"line311:facts:{journal.day_start(t):.0f}"


def test_given_a_fact_with_a_number_json_has_not_when_encoded_then_refused():
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(LiveStateError, match="CallCompleted is not JSON"):
            encode_fact(CallCompleted("c1", "general", 70.0, bad))
    with pytest.raises(LiveStateError, match="not a fact"):
        encode_fact(("c1", 1.0))  # type: ignore[arg-type]
    text = encode_fact(AlertRaised("a1", 5.0, "Fermeture d'école", "Ça"))
    assert decode_fact(text, {"AlertRaised": AlertRaised}) == AlertRaised(
        "a1", 5.0, "Fermeture d'école", "Ça"
    )
