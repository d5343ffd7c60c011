"""queue_log: Asterisk-compatible lines, and the translation to and from queue events."""

from __future__ import annotations

import pytest

from line311.queue.errors import QueueLogParseError
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    OfferAnswered,
    OfferMissed,
)
from line311.queue.intervals import IntervalAccumulator
from line311.queue.queue_log import (
    QueueLogEvent,
    QueueLogRecord,
    QueueLogTranslator,
    events_from_records,
    format_line,
    parse_line,
    parse_lines,
)
from line311.queue.service_level import AgentTimeStats

T = 1_700_000_100.0


def lines_for(events, **kwargs) -> list[str]:
    translator = QueueLogTranslator()
    return [format_line(r) for e in events for r in translator.records_for(e, **kwargs)]


def test_an_asterisk_line_parses_into_its_fields() -> None:
    record = parse_line("1366720340|1366720340.303267|MYQUEUE|SIP/8007|RINGNOANSWER|1000\n")
    assert record == QueueLogRecord(
        1366720340.0, "1366720340.303267", "MYQUEUE", "SIP/8007", "RINGNOANSWER", ("1000",)
    )
    assert format_line(record) == "1366720340|1366720340.303267|MYQUEUE|SIP/8007|RINGNOANSWER|1000"


def test_format_writes_whole_seconds_unless_precise_and_never_breaks_the_line() -> None:
    record = QueueLogRecord(T + 0.75, "c1", "", "", "PAUSE", ("lunch|break\nnow",))
    assert format_line(record) == f"{int(T)}|c1|NONE|NONE|PAUSE|lunch break now"
    assert format_line(record, precise=True).startswith(f"{T + 0.75:.6f}|")


@pytest.mark.parametrize(
    "line",
    ["", "123|c|q|a", "noon|c|q|a|ENTERQUEUE", "nan|c|q|a|ENTERQUEUE", "123|c|q|a|"],
)
def test_malformed_lines_are_refused(line: str) -> None:
    with pytest.raises(QueueLogParseError):
        parse_line(line)


def test_parse_lines_skips_blanks_and_names_the_bad_line() -> None:
    good = f"{int(T)}|c1|general|NONE|ENTERQUEUE||"
    assert len(list(parse_lines([good, "", "  ", good]))) == 2
    with pytest.raises(QueueLogParseError, match="line 2"):
        list(parse_lines([good, "garbage"]))


def test_a_handled_call_is_written_as_asterisk_writes_it() -> None:
    events = [
        CallEnqueued("c1", "general", T),
        CallEnqueued("c2", "general", T + 1),
        CallAnswered("c1", "general", T + 12, agent_id="ccr-7"),
        CallCompleted("c1", "general", T + 200, talk_seconds=180, hold_seconds=8),
        CallAbandoned("c2", "general", T + 40),
    ]
    assert lines_for(events, caller_id="h:ab12", member_uniqueid="1700000112.9") == [
        f"{int(T)}|c1|general|NONE|ENTERQUEUE||h:ab12|1",
        f"{int(T) + 1}|c2|general|NONE|ENTERQUEUE||h:ab12|2",
        f"{int(T) + 12}|c1|general|ccr-7|CONNECT|12|1700000112.9|0",  # ring time not told
        f"{int(T) + 200}|c1|general|ccr-7|COMPLETECALLER|12|188|1",
        f"{int(T) + 40}|c2|general|NONE|ABANDON|1|2|39",
    ]


def test_given_calls_resumed_from_another_controller_then_their_later_lines_name_their_ccr() -> (
    None
):
    """app_queue names the member in COMPLETECALLER / COMPLETEAGENT: per-CCR talk time in
    reporting tools comes from those lines, across a controller restart too."""
    translator = QueueLogTranslator()
    translator.resume(CallEnqueued("c1", "general", T), answered_at=T + 12, agent_id="ccr-7")
    translator.resume(CallEnqueued("c2", "general", T + 1))
    lines = [
        format_line(r)
        for e in (
            CallCompleted("c1", "general", T + 100, talk_seconds=88),
            CallAnswered("c2", "general", T + 101, agent_id="ccr-8"),
            CallCompleted("c2", "general", T + 160, talk_seconds=59, ended_by="agent"),
        )
        for r in translator.records_for(e)
    ]
    assert lines == [
        f"{int(T) + 100}|c1|general|ccr-7|COMPLETECALLER|12|88|0",
        f"{int(T) + 101}|c2|general|ccr-8|CONNECT|100||0",
        f"{int(T) + 160}|c2|general|ccr-8|COMPLETEAGENT|100|59|1",
    ]


def test_an_answered_offer_gives_connect_its_ring_time_in_seconds_for_that_ccr_only() -> None:
    translator = QueueLogTranslator()
    translator.records_for(CallEnqueued("c1", "general", T))
    translator.records_for(CallEnqueued("c2", "general", T))
    assert translator.ring(OfferAnswered("c1", "general", T + 10, "ccr-7", 6.4)) == []
    translator.ring(OfferAnswered("c2", "general", T + 10, "ccr-8", 4.0))
    translator.ring(OfferAnswered("c9", "general", T + 10, "ccr-9", 4.0))  # not in line: no-op
    connects = [
        format_line(r)
        for e in (
            CallAnswered("c1", "general", T + 11, agent_id="ccr-7"),
            CallAnswered("c2", "general", T + 11, agent_id="ccr-9"),  # not the CCR told of
        )
        for r in translator.records_for(e)
    ]
    assert connects == [
        f"{int(T) + 11}|c1|general|ccr-7|CONNECT|11||6",
        f"{int(T) + 11}|c2|general|ccr-9|CONNECT|11||0",
    ]


def test_a_missed_offer_is_a_ring_line_in_milliseconds_that_reads_back_as_no_event() -> None:
    translator = QueueLogTranslator()
    rang = translator.ring(OfferMissed("c1", "general", T + 20, "ccr-7", 15.0004))
    unreachable = OfferMissed("c1", "general", T + 21, "ccr-8", -0.001, unreachable=True)
    canceled = OfferMissed("c1", "general", T + 30, "ccr-9", 4.2, canceled=True)
    records = rang + translator.ring(unreachable) + translator.ring(canceled)
    assert [format_line(r) for r in records] == [
        f"{int(T) + 20}|c1|general|ccr-7|RINGNOANSWER|15000",
        f"{int(T) + 21}|c1|general|ccr-8|RINGNOANSWER|0",
        f"{int(T) + 30}|c1|general|ccr-9|RINGCANCELED|4200",
    ]
    assert list(events_from_records(records)) == []  # no fact of the queue's figures


def test_timeouts_callbacks_and_agent_hangups_have_their_own_events() -> None:
    events = [
        CallEnqueued("a", "q", T),
        CallEnqueued("b", "q", T),
        CallEnqueued("c", "q", T),
        CallTimedOut("a", "q", T + 600),
        CallTimedOut("b", "q", T + 601, reason="empty"),
        CallbackRequested("c", "q", T + 30),
        CallAnswered("c", "q", T + 900, agent_id="x"),
        CallCompleted("c", "q", T + 960, talk_seconds=60, ended_by="agent"),
        CallAnswered("unknown", "q", T + 1, agent_id="x"),  # never entered: nothing to write
    ]
    names = [line.split("|")[4] for line in lines_for(events)]
    assert names == [
        "ENTERQUEUE",
        "ENTERQUEUE",
        "ENTERQUEUE",
        "EXITWITHTIMEOUT",
        "EXITEMPTY",
        "CALLBACKREQUESTED",
        "CONNECT",
        "COMPLETEAGENT",
    ]


def test_agent_states_become_login_pause_unpause_logoff() -> None:
    events = [
        AgentStateChanged("ccr-7", AgentActivity.AVAILABLE, T),
        AgentStateChanged("ccr-7", AgentActivity.ON_CALL, T + 10),
        AgentStateChanged("ccr-7", AgentActivity.PAUSED, T + 100, reason="lunch"),
        AgentStateChanged("ccr-7", AgentActivity.AVAILABLE, T + 200),
        AgentStateChanged("ccr-7", AgentActivity.PAUSED, T + 300, reason="break"),
        AgentStateChanged("ccr-7", AgentActivity.LOGGED_OUT, T + 400),
    ]
    assert lines_for(events) == [
        f"{int(T)}|NONE|NONE|ccr-7|AGENTLOGIN|ccr-7",
        f"{int(T) + 100}|NONE|NONE|ccr-7|PAUSEALL|lunch",
        f"{int(T) + 200}|NONE|NONE|ccr-7|UNPAUSEALL|",
        f"{int(T) + 300}|NONE|NONE|ccr-7|PAUSEALL|break",
        f"{int(T) + 400}|NONE|NONE|ccr-7|AGENTLOGOFF|ccr-7|400",
    ]


def test_a_real_asterisk_log_reads_back_into_queue_events() -> None:
    log = """\
1700000100|1700000100.1|general|NONE|ENTERQUEUE||5551234|1
1700000101|1700000101.2|general|NONE|ENTERQUEUE||5559876|2
1700000102|NONE|general|PJSIP/ccr7|ADDMEMBER|
1700000110|1700000100.1|general|PJSIP/ccr7|RINGNOANSWER|15000
1700000110|NONE|general|PJSIP/ccr7|PAUSE|Auto-Pause
1700000125|1700000100.1|general|PJSIP/ccr8|CONNECT|25|1700000111.5|14
1700000131|1700000101.2|general|NONE|EXITWITHKEY|1|1|2|30
1700000305|1700000100.1|general|PJSIP/ccr8|TRANSFER|700|from-internal|25|180|1
1700000400|NONE|general|PJSIP/ccr7|UNPAUSE|
1700000500|NONE|general|PJSIP/ccr7|REMOVEMEMBER|
"""
    events = list(events_from_records(parse_lines(log.splitlines())))
    assert events == [
        CallEnqueued("1700000100.1", "general", 1700000100.0),
        CallEnqueued("1700000101.2", "general", 1700000101.0),
        AgentStateChanged("PJSIP/ccr7", AgentActivity.AVAILABLE, 1700000102.0),
        AgentStateChanged("PJSIP/ccr7", AgentActivity.PAUSED, 1700000110.0, "Auto-Pause"),
        CallAnswered("1700000100.1", "general", 1700000125.0, agent_id="PJSIP/ccr8"),
        AgentStateChanged("PJSIP/ccr8", AgentActivity.ON_CALL, 1700000125.0),
        CallAbandoned("1700000101.2", "general", 1700000131.0),
        CallCompleted("1700000100.1", "general", 1700000305.0, talk_seconds=180, ended_by="agent"),
        AgentStateChanged("PJSIP/ccr8", AgentActivity.AVAILABLE, 1700000305.0),
        AgentStateChanged("PJSIP/ccr7", AgentActivity.AVAILABLE, 1700000400.0),
        AgentStateChanged("PJSIP/ccr7", AgentActivity.LOGGED_OUT, 1700000500.0),
    ]
    acc = IntervalAccumulator()
    acc.feed_all(events)
    stats = acc.stats("general", 1700000100 - 100, 1700000100 + 800)
    assert (stats.offered, stats.answered, stats.answered_within, stats.abandoned) == (2, 1, 1, 1)
    assert stats.asa == 25.0


def test_a_ccrs_calls_in_the_log_are_their_busy_time() -> None:
    """Logged in 30 minutes, 20 of them on one call: occupancy 2/3. A pause during a second
    call starts when that call ends, and the call's time is still busy."""
    t = int(T)
    log = f"""\
{t}|NONE|NONE|PJSIP/a1|AGENTLOGIN|PJSIP/a1
{t + 60}|c1|q|NONE|ENTERQUEUE||5551212|1
{t + 70}|c1|q|PJSIP/a1|CONNECT|10|x|3
{t + 1270}|c1|q|PJSIP/a1|COMPLETECALLER|10|1200|1
{t + 1300}|c2|q|NONE|ENTERQUEUE||5551213|1
{t + 1305}|c2|q|PJSIP/a1|CONNECT|5|y|3
{t + 1400}|NONE|q|PJSIP/a1|PAUSE|lunch
{t + 1500}|c2|q|PJSIP/a1|COMPLETEAGENT|5|195|1
{t + 1800}|NONE|NONE|PJSIP/a1|AGENTLOGOFF|PJSIP/a1|1800
"""
    events = list(events_from_records(parse_lines(log.splitlines())))
    states = [(e.state, e.at - t) for e in events if isinstance(e, AgentStateChanged)]
    assert states == [
        (AgentActivity.AVAILABLE, 0),
        (AgentActivity.ON_CALL, 70),
        (AgentActivity.AVAILABLE, 1270),
        (AgentActivity.ON_CALL, 1305),
        (AgentActivity.PAUSED, 1500),
        (AgentActivity.LOGGED_OUT, 1800),
    ]
    acc = IntervalAccumulator()
    acc.feed_all(events)
    total = sum(acc.agent_time().values(), AgentTimeStats())
    assert (total.on_call, total.available, total.paused) == (1395, 105, 300)
    assert total.occupancy == 1395 / 1500


def test_a_completion_without_its_numbers_is_refused() -> None:
    record = QueueLogRecord(T, "c", "q", "a", QueueLogEvent.COMPLETECALLER, ("12",))
    with pytest.raises(QueueLogParseError, match="data field 2"):
        list(events_from_records([record]))


def test_a_call_whose_end_never_came_is_forgotten_two_days_on_and_the_line_closes_up() -> None:
    translator = QueueLogTranslator()
    day = 86_400.0
    translator.records_for(CallEnqueued("lost", "general", T))  # its leg died unrecorded
    translator.records_for(CallEnqueued("gone", "general", T + 1))
    translator.records_for(CallAnswered("gone", "general", T + 5, agent_id="ccr-7"))
    translator.records_for(CallEnqueued("fresh", "general", T + 2 * day - 60))
    assert len(translator._visits) == 3  # two days not over: everything kept
    later = translator.records_for(CallEnqueued("next", "general", T + 2 * day + 3700))
    assert sorted(k[1] for k in translator._visits) == ["fresh", "next"]
    # "next" is second in line behind "fresh", not fourth behind two calls long gone
    assert [format_line(r).rsplit("|", 1)[1] for r in later] == ["2"]
    assert translator.records_for(CallCompleted("gone", "general", T + 2 * day + 3800, 9)) == []
