"""queue_log: a repeated enqueue writes nothing; callbacks and time-outs read back as written."""

from __future__ import annotations

from line311.queue.events import CallbackRequested, CallEnqueued, CallTimedOut
from line311.queue.queue_log import (
    QueueLogTranslator,
    events_from_records,
    format_line,
    parse_lines,
)

T = 1_700_000_100.0


def test_the_same_visit_enqueued_twice_is_written_once() -> None:
    translator = QueueLogTranslator()
    first = translator.records_for(CallEnqueued("c1", "general", T))
    again = translator.records_for(CallEnqueued("c1", "general", T + 5))
    assert [r.event for r in first] == ["ENTERQUEUE"]
    assert again == []


def test_a_callback_request_survives_the_file() -> None:
    translator = QueueLogTranslator()
    events = [CallEnqueued("c1", "general", T), CallbackRequested("c1", "general", T + 30)]
    lines = [format_line(r) for e in events for r in translator.records_for(e)]
    back = list(events_from_records(parse_lines(lines)))
    assert CallbackRequested("c1", "general", T + 30) in back


def test_a_time_out_keeps_its_reason_through_the_file() -> None:
    translator = QueueLogTranslator()
    events = [
        CallEnqueued("c1", "general", T),
        CallEnqueued("c2", "general", T + 1),
        CallTimedOut("c1", "general", T + 600, reason="max-wait"),
        CallTimedOut("c2", "general", T + 700, reason="empty"),
    ]
    lines = [format_line(r) for e in events for r in translator.records_for(e)]
    assert [line.split("|")[4] for line in lines[2:]] == ["EXITWITHTIMEOUT", "EXITEMPTY"]
    back = [e for e in events_from_records(parse_lines(lines)) if isinstance(e, CallTimedOut)]
    assert [(e.call_id, e.reason) for e in back] == [("c1", "max-wait"), ("c2", "empty")]
