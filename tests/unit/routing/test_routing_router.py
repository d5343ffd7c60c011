"""Router behaviour, fed events with a fake clock."""

from __future__ import annotations

import pytest

from line311.call.values import OTHER_LANGUAGE
from line311.routing.agents import AgentState, AutoPausePolicy
from line311.routing.errors import (
    AgentStateError,
    DuplicateCallError,
    InvalidCallError,
    QueueFullError,
    RoutingConfigError,
    StaleOfferError,
    UnknownAgentError,
    UnknownCallError,
    UnknownQueueError,
)
from line311.routing.results import Offer, WaitExpired
from line311.routing.router import Router
from line311.routing.skills import Requirements
from line311.routing.strategies import DEFAULT_STRATEGIES
from tests.unit.routing.helpers import ccr, queues, router

EN = "lang:en=5, topic:general=3"


def test_given_an_available_ccr_when_a_call_arrives_then_it_is_offered_to_them():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=1)
    offers = r.decide(now=1)
    assert offers == [
        Offer(
            call_id="c1",
            agent_id="a1",
            queue="general",
            endpoint="PJSIP/a1",
            language="en",
            waited=0.0,
        )
    ]
    assert r.agent("a1").state is AgentState.RESERVED
    assert r.decide(now=1) == []


def test_given_no_ccr_speaks_spanish_when_one_logs_in_then_the_spanish_call_goes_to_them():
    r = router()
    r.agent_login(ccr("en", EN), now=0)
    r.agent_login(ccr("es", "lang:es=4, lang:en=3, topic:general=2"), now=0)
    r.agent_pause("es", now=0)
    r.call_arrived("c1", "general", now=1, language="es")
    # a Spanish speaker is logged in (paused), so no interpreter: the call waits
    assert r.decide(now=1) == []
    r.agent_resume("es", now=2)
    [offer] = r.decide(now=2)
    assert (offer.agent_id, offer.interpreter) == ("es", False)


def test_given_a_language_nobody_speaks_when_it_arrives_then_english_ccr_plus_interpreter():
    r = router()
    r.agent_login(ccr("en", EN), now=0)
    r.call_arrived("c1", "general", now=1, language="ar")
    [offer] = r.decide(now=1)
    assert offer.agent_id == "en"
    assert offer.interpreter


@pytest.mark.parametrize("unstaffed_rule", [True, False])
def test_given_an_other_language_call_then_an_english_ccr_takes_it_with_the_interpreter_at_once(
    unstaffed_rule,
):
    """0 at the language menu ("all other languages"): the call's language is ``und``. The
    interpreter line is used from the start, whatever the queue's escalation and its
    ``interpreter_when_unstaffed`` say; a CCR without English is never offered it."""
    qs = queues(general={"requires": "topic:general", "interpreter_when_unstaffed": unstaffed_rule})
    r = router(qs)
    r.agent_login(ccr("es", "lang:es=5, topic:general=3"), now=0)
    r.call_arrived("c1", "general", now=1, language=OTHER_LANGUAGE)
    assert r.decide(now=1) == []  # the Spanish-only CCR is not eligible
    r.agent_login(ccr("en", EN), now=2)
    [offer] = r.decide(now=2)
    assert (offer.agent_id, offer.interpreter, offer.step) == ("en", True, 0)
    assert offer.language == OTHER_LANGUAGE


def test_given_the_interpreter_step_when_no_native_ccr_is_free_then_interpreter_after_the_step():
    qs = queues(
        general={"requires": "topic:general", "escalation": [{"after": 60, "interpreter": True}]}
    )
    r = router(qs)
    r.agent_login(ccr("ru", "lang:ru=5, topic:general=3"), now=0)
    r.agent_login(ccr("en", EN), now=0)
    r.call_arrived("busy", "general", now=0, language="ru")
    [first] = r.decide(now=0)
    assert first.agent_id == "ru"
    r.offer_accepted("busy", "ru", now=1)
    r.call_arrived("c1", "general", now=2, language="ru")
    assert r.decide(now=2) == []
    assert r.next_deadline() == 62
    assert r.decide(now=61.9) == []
    [offer] = r.decide(now=62)
    assert (offer.agent_id, offer.interpreter, offer.step) == ("en", True, 1)


def test_given_native_and_english_ccrs_when_interpreter_step_applies_then_native_preferred():
    qs = queues(
        general={"requires": "topic:general", "escalation": [{"after": 0, "interpreter": True}]}
    )
    r = router(qs)
    r.agent_login(ccr("en", EN), now=0)
    r.agent_login(ccr("ko", "lang:ko=3, topic:general=1"), now=5)
    r.call_arrived("c1", "general", now=10, language="ko")
    [offer] = r.decide(now=10)
    assert (offer.agent_id, offer.interpreter) == ("ko", False)


def test_given_a_proficiency_step_when_it_applies_then_less_skilled_ccrs_become_eligible():
    qs = queues(
        housing={
            "requires": "topic:housing>=4",
            "escalation": [{"after": 30, "min_proficiency": 2}],
        }
    )
    r = router(qs)
    r.agent_login(ccr("junior", "lang:en=5, topic:housing=2"), now=0)
    r.call_arrived("c1", "housing", now=0)
    assert r.decide(now=29) == []
    [offer] = r.decide(now=30)
    assert offer.agent_id == "junior"


def test_given_an_escalation_step_when_the_clock_reaches_its_deadline_exactly_then_it_applies():
    # 3.3 + 30 rounds to 33.3, and 33.3 - 3.3 is 29.999999999999996: judged by the wait, the
    # step was not due at its own deadline, and the timer was armed again for that instant
    # (an edge that sleeps until the deadline then spun; `line311 simulate` hung)
    qs = queues(
        housing={
            "requires": "topic:housing>=4",
            "escalation": [{"after": 30, "min_proficiency": 2}],
        }
    )
    r = router(qs)
    r.agent_login(ccr("junior", "lang:en=5, topic:housing=2"), now=0)
    r.call_arrived("c1", "housing", now=3.3)
    deadline = r.next_deadline()
    assert deadline == 3.3 + 30
    assert r.tick(deadline) == []
    assert r.waiting_call("c1").step == 1
    assert r.next_deadline() is None
    [offer] = r.decide(deadline)
    assert (offer.agent_id, offer.step) == ("junior", 1)


def test_given_an_overflow_step_when_it_applies_then_the_other_queues_ccrs_may_take_the_call():
    qs = queues(
        general={"requires": "topic:general"},
        parking={
            "requires": "topic:parking",
            "escalation": [{"after": 90, "add_queues": ["general"]}],
        },
    )
    r = router(qs)
    r.agent_login(ccr("gen", EN), now=0)
    r.call_arrived("c1", "parking", now=0)
    assert r.decide(now=89) == []
    [offer] = r.decide(now=90)
    assert offer.agent_id == "gen"


def test_given_an_overflow_step_when_the_caller_speaks_spanish_then_the_language_still_applies():
    qs = queues(
        general={"requires": "topic:general"},
        parking={
            "requires": "topic:parking",
            "escalation": [{"after": 90, "add_queues": ["general"]}],
        },
    )
    r = router(qs)
    r.agent_login(ccr("gen", EN), now=0)
    r.agent_login(ccr("es-park", "lang:es=5, topic:parking=3"), now=0)
    r.agent_pause("es-park", now=0)
    r.call_arrived("c1", "parking", now=0, language="es")
    assert r.decide(now=200) == []


def test_given_two_calls_of_equal_priority_when_one_ccr_frees_then_the_earlier_caller_goes_first():
    r = router()
    r.call_arrived("late", "general", now=5)
    r.call_arrived("early", "general", now=1)  # entered earlier (clock of the edge)
    r.call_arrived("later", "general", now=9)
    assert [r.position(c) for c in ("early", "late", "later")] == [1, 2, 3]
    r.agent_login(ccr("a1", EN), now=10)
    [offer] = r.decide(now=10)
    assert offer.call_id == "early"


def test_given_a_higher_priority_call_when_it_arrives_then_it_moves_ahead_by_the_priority_weight():
    r = router(priority_weight=60.0)
    r.call_arrived("old", "general", now=0)
    r.call_arrived("recent", "general", now=50)
    r.call_arrived("urgent", "general", now=55, priority=1)  # rank -5: ahead of both
    r.call_arrived("much-later", "general", now=200, priority=1)  # rank 140: behind
    assert r.position("urgent") == 1
    assert r.position("old") == 2
    assert r.position("much-later") == 4


def test_given_a_ccr_in_two_queues_when_they_free_up_then_they_take_the_longest_waiter():
    qs = queues(general={"requires": "topic:general"}, noise={"requires": "topic:noise"})
    r = router(qs)
    r.call_arrived("g", "general", now=10)
    r.call_arrived("n", "noise", now=3)
    r.agent_login(ccr("both", "lang:en=5, topic:general=1, topic:noise=1"), now=20)
    [offer] = r.decide(now=20)
    assert offer.call_id == "n"


def test_given_a_higher_priority_queue_when_a_shared_ccr_frees_up_then_it_weighs_in():
    qs = queues(
        general={"requires": "topic:general"},
        social_services={"requires": "topic:social_services", "priority": 1},
    )
    r = router(qs, priority_weight=60.0)
    r.call_arrived("g", "general", now=0)
    r.call_arrived("s", "social_services", now=30)  # rank -30
    r.agent_login(ccr("both", "lang:en=5, topic:general=1, topic:social_services=1"), now=40)
    assert r.decide(now=40)[0].call_id == "s"


def test_given_many_calls_and_agents_when_deciding_then_no_agent_gets_two_offers():
    r = router()
    for i in range(5):
        r.agent_login(ccr(f"a{i}", EN), now=i)
    for i in range(8):
        r.call_arrived(f"c{i}", "general", now=10 + i)
    offers = r.decide(now=20)
    assert len(offers) == 5
    assert len({o.agent_id for o in offers}) == 5
    assert [o.call_id for o in offers] == [f"c{i}" for i in range(5)]
    # longest idle first
    assert [o.agent_id for o in offers] == [f"a{i}" for i in range(5)]


def test_given_a_ccr_not_answering_when_offer_times_out_then_paused_and_call_keeps_place():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.agent_login(ccr("a2", EN), now=1)
    r.agent_pause("a2", now=1)
    r.call_arrived("c1", "general", now=2)
    r.call_arrived("c2", "general", now=3)
    [offer] = r.decide(now=3)
    assert offer.call_id == "c1"
    assert r.position("c1") == 1
    assert r.offer_timeout("c1", "a1", now=20) is True
    figures = r.agent_figures("a1", now=20)
    assert (figures.state, figures.pause_reason, figures.missed_offers) == (
        AgentState.PAUSED,
        "no-answer",
        1,
    )
    assert r.position("c1") == 1
    r.agent_resume("a2", now=21)
    [again] = r.decide(now=21)
    assert (again.call_id, again.agent_id) == ("c1", "a2")


def test_given_auto_pause_after_two_misses_when_one_rejected_then_the_ccr_stays_available():
    r = router(auto_pause=2)
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=1)
    r.decide(now=1)
    assert r.offer_rejected("c1", "a1", now=2) is False
    assert r.agent("a1").state is AgentState.AVAILABLE
    [offer] = r.decide(now=2)
    assert offer.agent_id == "a1"
    assert r.offer_rejected("c1", "a1", now=3) is True
    assert r.agent("a1").state is AgentState.PAUSED
    r.agent_resume("a1", now=4)
    assert r.agent("a1").consecutive_misses == 0


def test_given_auto_pause_after_two_misses_when_a_ccr_logs_out_between_them_then_the_streak_ends():
    # "in a row": the miss before a log-out (end of yesterday's shift) and the first after
    # the next log-in are not two in a row, as a resume already ends the streak
    r = router(auto_pause=2)
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=1)
    r.decide(now=1)
    assert r.offer_timeout("c1", "a1", now=16) is False
    r.call_left("c1", now=17)
    r.agent_logout("a1", now=18)
    r.agent_login("a1", now=86_400)
    assert r.agent("a1").consecutive_misses == 0
    r.call_arrived("c2", "general", now=86_401)
    r.decide(now=86_401)
    assert r.offer_timeout("c2", "a1", now=86_416) is False
    assert r.agent("a1").state is AgentState.AVAILABLE
    assert r.agent("a1").missed_offers == 2  # the figure still counts them all


def test_given_an_accepted_offer_when_the_call_ends_then_wrap_up_then_available():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=1)
    r.decide(now=1)
    left = r.offer_accepted("c1", "a1", now=5)
    assert left.waited(5) == 4
    with pytest.raises(UnknownCallError):
        r.position("c1")
    r.call_ended("a1", now=65)
    assert r.agent("a1").state is AgentState.WRAP_UP
    assert r.next_deadline() == 75
    r.call_arrived("c2", "general", now=70)
    assert r.decide(now=70) == []
    assert r.tick(now=75) == []
    assert r.agent("a1").state is AgentState.AVAILABLE
    figures = r.agent_figures("a1", now=80)
    assert figures.calls_handled == 1
    assert figures.idle_since == 75
    assert figures.time_in_state[AgentState.ON_CALL] == 60
    assert figures.time_in_state[AgentState.WRAP_UP] == 10
    [offer] = r.decide(now=80)
    assert offer.call_id == "c2"


def test_given_wrap_up_when_the_ccr_resumes_early_then_available_and_the_stale_timer_is_ignored():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=0)
    r.decide(now=0)
    r.offer_accepted("c1", "a1", now=1)
    r.call_ended("a1", now=2)
    r.agent_resume("a1", now=3)
    assert r.agent("a1").state is AgentState.AVAILABLE
    r.agent_pause("a1", now=5, reason="lunch")
    r.tick(now=12)
    assert r.agent("a1").state is AgentState.PAUSED
    assert r.agent("a1").pause_reason == "lunch"


def test_given_zero_wrap_up_when_the_call_ends_then_the_ccr_is_available_at_once():
    r = router(queues(general={"requires": "topic:general", "wrapup_seconds": 0}))
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=0)
    r.decide(now=0)
    r.offer_accepted("c1", "a1", now=1)
    r.call_ended("a1", now=2)
    assert r.agent("a1").state is AgentState.AVAILABLE


def test_given_a_ringing_offer_when_the_caller_hangs_up_then_the_ccr_is_freed():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=1)
    r.decide(now=1)
    assert r.call_left("c1", now=3) == "a1"
    assert r.agent("a1").state is AgentState.AVAILABLE
    assert r.agent("a1").missed_offers == 0
    with pytest.raises(StaleOfferError):
        r.offer_accepted("c1", "a1", now=4)


def test_given_a_waiting_caller_when_they_hang_up_then_they_leave_and_nobody_was_rung():
    r = router()
    r.call_arrived("c1", "general", now=1)
    r.call_arrived("c2", "general", now=2)
    assert r.call_left("c1", now=3) is None
    assert r.position("c2") == 1
    with pytest.raises(UnknownCallError):
        r.call_left("c1", now=4)


def test_given_a_callback_request_when_their_turn_comes_then_the_offer_says_callback():
    r = router()
    r.call_arrived("c1", "general", now=0)
    r.call_arrived("c2", "general", now=1)
    r.call_arrived("c3", "general", now=2)
    entry = r.request_callback("c2", now=30)
    assert entry.callback
    assert entry.callback_since == 30
    assert r.position("c2") == 2
    assert r.request_callback("c2", now=31).callback_since == 30
    r.agent_login(ccr("a1", EN), now=40)
    r.agent_login(ccr("a2", EN), now=41)
    offers = r.decide(now=41)
    assert [(o.call_id, o.callback) for o in offers] == [("c1", False), ("c2", True)]


def test_given_a_reserved_ccr_when_they_log_out_then_the_call_returns_to_its_place():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=1)
    r.call_arrived("c2", "general", now=2)
    r.decide(now=2)
    assert r.agent_logout("a1", now=3) == "c1"
    assert r.agent("a1").missed_offers == 0
    r.agent_login("a1", now=4)
    assert r.decide(now=4)[0].call_id == "c1"


def test_given_a_ccr_on_a_call_when_they_log_out_then_it_is_refused():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=1)
    r.decide(now=1)
    r.offer_accepted("c1", "a1", now=2)
    with pytest.raises(AgentStateError, match="cannot logout while on_call"):
        r.agent_logout("a1", now=3)
    with pytest.raises(AgentStateError):
        r.agent_pause("a1", now=3)


def test_given_a_full_queue_when_a_call_arrives_then_it_overflows_or_is_refused():
    qs = queues(
        general={"requires": "topic:general", "max_length": 1},
        noise={"requires": "topic:noise", "max_length": 1, "overflow": "general"},
    )
    r = router(qs)
    assert r.call_arrived("n1", "noise", now=0).queue == "noise"
    assert r.call_arrived("n2", "noise", now=1).queue == "general"
    with pytest.raises(QueueFullError):
        r.call_arrived("n3", "noise", now=2)


def test_given_a_max_wait_when_it_passes_then_tick_reports_the_live_caller_but_keeps_callbacks():
    r = router(queues(general={"requires": "topic:general", "max_wait": 300}))
    r.call_arrived("c1", "general", now=0)
    r.call_arrived("c2", "general", now=10)
    r.request_callback("c2", now=20)
    assert r.tick(now=299) == []
    [expired] = r.tick(now=400)
    assert (expired.call_id, expired.queue, expired.waited) == ("c1", "general", 400)
    assert r.position("c2") == 1


def test_given_a_ringing_offer_at_max_wait_when_it_fails_then_the_call_expires_next():
    r = router(queues(general={"requires": "topic:general", "max_wait": 60}))
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=0)
    r.decide(now=50)
    assert r.tick(now=61) == []  # still ringing: not expired under the CCR's feet
    r.offer_timeout("c1", "a1", now=70)
    assert [e.call_id for e in r.tick(now=70)] == ["c1"]


def test_given_an_expired_call_when_the_caller_asks_for_a_callback_then_it_takes_its_old_place():
    r = router(queues(general={"requires": "topic:general", "max_wait": 60}))
    r.call_arrived("c1", "general", now=0)
    r.call_arrived("c2", "general", now=10)
    [expired] = r.tick(now=61)
    assert expired.call_id == "c1"
    assert r.position("c2") == 1
    r.call_arrived("c3", "general", now=62)
    back = r.readmit_callback(expired, now=65)
    assert back.callback
    assert (r.position("c1"), r.position("c2"), r.position("c3")) == (1, 2, 3)
    assert [e.call_id for e in r.tick(now=200)] == ["c2", "c3"]  # a callback never expires
    assert r.position("c1") == 1
    with pytest.raises(DuplicateCallError):
        r.readmit_callback(expired, now=201)
    with pytest.raises(InvalidCallError):
        r.readmit_callback(WaitExpired("c9", "general", 61.0), now=201)


def test_given_a_queue_over_its_length_when_a_new_controller_puts_its_calls_back_then_each_stays():
    # a callback taken at max wait keeps its place past max_length; a restarted controller
    # putting the calls back must not refuse them or send them to the overflow queue
    qs = queues(
        general={"requires": "topic:general"},
        noise={"requires": "topic:noise", "max_length": 1, "max_wait": 60, "overflow": "general"},
    )
    old = router(qs)
    old.call_arrived("c1", "noise", now=0)
    [expired] = old.tick(now=61)
    old.call_arrived("c2", "noise", now=62)
    old.readmit_callback(expired, now=63)
    assert old.store.waiting_count("noise") == 2
    new = router(qs)
    for call in (old.waiting_call("c2"), old.waiting_call("c1")):  # in any order
        entry = new.call_arrived(call.call_id, "noise", call.entered_at, resumed=True)
        assert entry.queue == "noise"
    new.request_callback("c1", now=70)
    assert (new.position("c1"), new.position("c2")) == (1, 2)
    assert new.call_arrived("c3", "noise", now=71).queue == "general"  # a new caller overflows
    # a caller in the max-wait offer is rebuilt out of line, ready to take their place again
    again = new.expired_again("c5", "noise", entered_at=10, now=80)
    assert again.entry is not None
    assert again.entry.queue == "noise"
    alone = router(queues(general={"requires": "topic:general", "max_length": 1}))
    alone.call_arrived("c1", "general", now=0)
    alone.call_arrived("c2", "general", now=1, resumed=True)
    with pytest.raises(QueueFullError):  # a new caller is still refused
        alone.call_arrived("c3", "general", now=2)


def test_given_bad_input_when_calling_the_router_then_clear_errors():
    r = router()
    with pytest.raises(UnknownQueueError):
        r.call_arrived("c1", "nope", now=0)
    with pytest.raises(InvalidCallError):
        r.call_arrived("c1", "general", now=0, language="Klingon!")
    with pytest.raises(InvalidCallError):
        r.call_arrived("c1", "general", now=0, priority="high")  # type: ignore[arg-type]
    r.call_arrived("c1", "general", now=0)
    with pytest.raises(DuplicateCallError):
        r.call_arrived("c1", "general", now=0)
    with pytest.raises(UnknownAgentError):
        r.agent_login("ghost", now=0)
    with pytest.raises(UnknownCallError):
        r.request_callback("ghost", now=0)
    with pytest.raises(StaleOfferError):
        r.offer_accepted("c1", "ghost", now=0)
    with pytest.raises(RoutingConfigError, match="unknown strategy"):
        Router(queues(general={"strategy": "psychic"}), DEFAULT_STRATEGIES)


def test_given_an_offer_to_someone_else_when_accepted_by_another_then_stale():
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.agent_login(ccr("a2", EN), now=0)
    r.agent_pause("a2", now=0)
    r.call_arrived("c1", "general", now=0)
    r.decide(now=0)
    with pytest.raises(StaleOfferError, match="offered to 'a1'"):
        r.offer_accepted("c1", "a2", now=1)


def test_given_extra_per_call_requirements_when_matching_then_they_apply():
    r = router()
    r.agent_login(ccr("plain", EN), now=0)
    r.agent_login(ccr("tty", "lang:en=5, topic:general=3, access:tty=3"), now=5)
    r.call_arrived("c1", "general", now=10, requires=Requirements.parse("access:tty"))
    [offer] = r.decide(now=10)
    assert offer.agent_id == "tty"


def test_given_a_skill_update_when_logged_in_then_matching_follows_the_new_skills():
    r = router()
    r.agent_login(ccr("a1", "lang:en=5, topic:noise=1"), now=0)
    r.call_arrived("c1", "general", now=1)
    assert r.decide(now=1) == []
    r.register_agent(ccr("a1", EN), now=2)
    assert r.decide(now=2)[0].agent_id == "a1"


def test_given_live_data_when_estimating_the_wait_then_it_follows_position_staff_and_handle_time():
    r = router(queues(general={"requires": "topic:general", "default_handle_time": 200}))
    for i in range(2):
        r.agent_login(ccr(f"a{i}", EN), now=0)
    for i in range(2):
        r.call_arrived(f"busy{i}", "general", now=0)
    for offer in r.decide(now=0):
        r.offer_accepted(offer.call_id, offer.agent_id, now=0)
    for i in range(4):
        r.call_arrived(f"c{i}", "general", now=1 + i)
    assert r.estimated_wait("c0", now=5) == pytest.approx(1 * 200 / 2)
    assert r.estimated_wait("c3", now=5) == pytest.approx(4 * 200 / 2)
    # one call handled: 60 s talk + 30 s wrap-up; the estimate follows the live figure
    r.call_ended("a0", now=60)
    assert r.estimated_wait("c3", now=61) == pytest.approx(4 * 90 / 2)
    r.agent_pause("a0", now=61)  # from wrap-up: only a1 is still working
    assert r.estimated_wait("c3", now=62) == pytest.approx(4 * 90 / 1)


def test_given_nobody_eligible_when_estimating_then_unknown():
    r = router()
    r.call_arrived("c1", "general", now=0)
    assert r.estimated_wait("c1", now=1) is None


def test_given_a_mixed_floor_when_asking_queue_stats_then_live_figures():
    qs = queues(general={"requires": "topic:general"}, noise={"requires": "topic:noise"})
    r = router(qs)
    r.agent_login(ccr("g1", EN), now=0)
    r.agent_login(ccr("g2", EN), now=0)
    r.agent_login(ccr("n1", "lang:en=5, topic:noise=2"), now=0)
    r.agent_pause("g2", now=0)
    r.call_arrived("c1", "general", now=0)
    r.call_arrived("c2", "general", now=5)
    r.request_callback("c2", now=6)
    r.decide(now=10)
    stats = r.queue_stats("general", now=30)
    assert stats.waiting == 2
    assert stats.callbacks_waiting == 1
    assert stats.longest_wait == 30
    assert (stats.eligible_agents, stats.available_agents, stats.paused_agents) == (2, 0, 1)
    assert stats.working_agents == 1
    assert stats.handle_time == 300.0


def test_given_a_ccr_phone_that_cannot_be_rung_then_no_miss_a_hold_and_back_by_itself() -> None:
    r = router()  # auto-pause after 1 miss: a miss would pause a1 for good
    r.agent_login(ccr("a1", EN), now=0)
    r.agent_login(ccr("a2", EN), now=1)
    r.call_arrived("c1", "general", now=2)
    [offer] = r.decide(now=2)
    assert offer.agent_id == "a1"
    r.offer_unreachable("c1", "a1", now=2.1)
    figures = r.agent_figures("a1", now=2.1)
    assert (figures.state, figures.pause_reason) == (AgentState.PAUSED, "unreachable")
    assert (figures.missed_offers, figures.consecutive_misses) == (0, 0)
    assert r.position("c1") == 1  # the call keeps its place and goes to the other CCR
    [again] = r.decide(now=2.1)
    assert (again.call_id, again.agent_id) == ("c1", "a2")
    assert r.next_deadline() == pytest.approx(12.1)  # the hold (10 s by default)
    r.tick(now=12.0)
    assert r.agent("a1").state is AgentState.PAUSED
    r.tick(now=12.1)
    assert r.agent("a1").state is AgentState.AVAILABLE
    r.call_arrived("c2", "general", now=13)
    [third] = r.decide(now=13)
    assert (third.call_id, third.agent_id) == ("c2", "a1")


def test_given_an_unreachable_hold_when_the_ccr_pauses_or_leaves_meanwhile_then_the_hold_end_keeps_that() -> (
    None
):
    r = router()
    for name in ("a1", "a2"):
        r.agent_login(ccr(name, EN), now=0)
    for call, at in (("c1", 1), ("c2", 2)):
        r.call_arrived(call, "general", now=at)
    offers = {o.agent_id: o.call_id for o in r.decide(now=2)}
    r.offer_unreachable(offers["a1"], "a1", now=3)
    r.offer_unreachable(offers["a2"], "a2", now=3)
    r.agent_pause("a1", now=4, reason="lunch")  # a pause of their own: kept
    r.agent_logout("a2", now=5)
    r.tick(now=20)
    assert (r.agent("a1").state, r.agent("a1").pause_reason) == (AgentState.PAUSED, "lunch")
    assert r.agent("a2").state is AgentState.LOGGED_OUT
    with pytest.raises(StaleOfferError):
        r.offer_unreachable("c1", "a1", now=21)  # no offer stands: a late report


def test_given_a_hold_that_is_not_positive_then_routing_config_error() -> None:
    with pytest.raises(RoutingConfigError, match="unreachable_hold"):
        AutoPausePolicy(unreachable_hold=0)
    with pytest.raises(RoutingConfigError, match="unreachable_hold_max"):
        AutoPausePolicy(unreachable_hold=20, unreachable_hold_max=10)
    assert AutoPausePolicy().unreachable_hold == 10.0
    assert [AutoPausePolicy().hold_for(n) for n in (0, 1, 2, 5, 6, 10**6)] == [
        10,
        10,
        20,
        160,
        300,
        300,
    ]


def _unreachable_round(r: Router, now: float) -> tuple[float, float]:
    """a1 is offered c1, its phone cannot be rung, the hold runs out: (the hold, its end)."""
    [offer] = r.decide(now=now)
    assert (offer.call_id, offer.agent_id) == ("c1", "a1")
    hold = r.offer_unreachable("c1", "a1", now=now)
    r.tick(now=now + hold)
    assert r.agent("a1").state is AgentState.AVAILABLE
    return hold, now + hold


def test_given_a_phone_that_stays_unreachable_then_each_hold_doubles_to_the_maximum_until_it_rings_or_the_ccr_resumes() -> (
    None
):
    """A CCR logged in with no phone (gone home without logging out) is tried ever less often,
    not every 10 s all day; a ring, or the CCR's own resume, starts again from the first hold."""
    policy = AutoPausePolicy(after_misses=0, unreachable_hold_max=50)
    r = Router(queues(general={"requires": "topic:general"}), auto_pause=policy)
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=0)
    holds, now = [], 0.0
    for _ in range(5):
        hold, now = _unreachable_round(r, now)
        holds.append(hold)
    assert holds == [10, 20, 40, 50, 50]
    assert [o.agent_id for o in r.decide(now=now)] == ["a1"]
    assert not r.offer_timeout("c1", "a1", now=now + 15)  # it rang: the phone is back
    assert _unreachable_round(r, now + 15)[0] == 10
    _, now = _unreachable_round(r, now + 100)
    assert [o.agent_id for o in r.decide(now=now)] == ["a1"]
    assert r.offer_unreachable("c1", "a1", now=now) == 40  # the third in a row
    r.agent_resume("a1", now=now + 1)  # the CCR says they are there
    assert _unreachable_round(r, now + 1)[0] == 10


def _state(r: Router, agent_id: str) -> tuple[AgentState, str | None]:
    agent = r.agent(agent_id)
    return agent.state, agent.pause_reason


def test_given_a_phone_with_no_registration_when_the_ccr_logs_in_then_they_wait_paused_and_the_registration_brings_the_call() -> (
    None
):
    """app_queue skips a member whose device is unavailable: no call is offered to a phone
    that cannot ring, and none waits on a dial that cannot succeed."""
    r = router()
    r.register_agent(ccr("a1", EN), now=0)
    assert r.phone_state("a1", False, now=0)
    assert not r.phone_state("a1", False, now=0)  # no news
    r.agent_login("a1", now=1)
    r.call_arrived("c1", "general", now=2)
    assert _state(r, "a1") == (AgentState.PAUSED, "phone-offline")
    assert r.decide(now=2) == []
    r.agent_resume("a1", now=3)  # the desk's resume cannot make the phone ring
    assert _state(r, "a1") == (AgentState.PAUSED, "phone-offline")
    assert r.decide(now=3) == []
    assert r.phone_state("a1", True, now=4)
    assert _state(r, "a1") == (AgentState.AVAILABLE, None)
    assert [(o.call_id, o.agent_id) for o in r.decide(now=4)] == [("c1", "a1")]


def test_given_a_ccr_on_a_call_when_their_phone_unregisters_then_the_call_goes_on_and_the_wrapup_ends_in_a_pause() -> (
    None
):
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=0)
    assert [o.agent_id for o in r.decide(now=0)] == ["a1"]
    r.offer_accepted("c1", "a1", now=1)
    assert r.phone_state("a1", False, now=2)
    assert r.agent("a1").state is AgentState.ON_CALL
    r.call_ended("a1", now=10)
    r.tick(now=10 + 3600)  # past any wrap-up
    assert _state(r, "a1") == (AgentState.PAUSED, "phone-offline")
    r.phone_state("a1", True, now=4000)
    assert r.agent("a1").state is AgentState.AVAILABLE


def test_given_a_ccr_paused_for_a_break_when_the_phone_comes_and_goes_then_the_break_is_kept() -> (
    None
):
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.agent_pause("a1", now=1, reason="lunch")
    r.phone_state("a1", False, now=2)
    assert _state(r, "a1") == (AgentState.PAUSED, "lunch")
    r.phone_state("a1", True, now=3)
    assert _state(r, "a1") == (AgentState.PAUSED, "lunch")
    r.phone_state("a1", False, now=4)
    r.agent_resume("a1", now=5)  # back from lunch, phone not yet registered
    assert _state(r, "a1") == (AgentState.PAUSED, "phone-offline")


def test_given_an_unreachable_hold_when_the_phone_registers_then_the_ccr_is_back_at_once_and_the_streak_ends() -> (
    None
):
    policy = AutoPausePolicy(after_misses=0)
    r = Router(queues(general={"requires": "topic:general"}), auto_pause=policy)
    r.agent_login(ccr("a1", EN), now=0)
    r.call_arrived("c1", "general", now=0)
    r.decide(now=0)
    assert r.offer_unreachable("c1", "a1", now=1) == 10
    r.phone_state("a1", False, now=2)  # the hold now waits for the phone, not the clock
    r.tick(now=100)
    assert _state(r, "a1") == (AgentState.PAUSED, "phone-offline")
    r.phone_state("a1", True, now=101)
    assert r.agent("a1").state is AgentState.AVAILABLE
    assert r.agent("a1").unreachable_streak == 0
    assert [o.agent_id for o in r.decide(now=101)] == ["a1"]


def test_given_an_offline_phone_when_the_agent_is_saved_and_restored_then_it_is_still_offline() -> (
    None
):
    r = router()
    r.agent_login(ccr("a1", EN), now=0)
    r.phone_state("a1", False, now=1)
    saved = r.agent("a1").to_dict()
    older = {k: v for k, v in saved.items() if k != "phone_offline"}  # the release before
    fresh = router()
    fresh.register_agent(ccr("a1", EN), now=0)
    restored = fresh.restore_agent(saved, now=2)
    assert restored is not None
    assert restored.phone_offline
    fresh.agent_resume("a1", now=3)
    assert _state(fresh, "a1") == (AgentState.PAUSED, "phone-offline")
    other = router()
    other.register_agent(ccr("a1", EN), now=0)
    again = other.restore_agent(older, now=2)
    assert again is not None
    assert not again.phone_offline


def test_given_fewest_calls_when_a_ccr_signs_in_again_then_their_count_starts_over():
    """`fewest_calls` counts the calls of this sign-in (Asterisk's `fewestcalls` for a member
    added at sign-in): a CCR back for a new shift does not lose every call to the others."""
    qs = queues(general={"requires": "topic:general", "strategy": "fewest_calls"})
    r = router(qs)
    for agent_id in ("a1", "a2"):
        r.register_agent(ccr(agent_id, "lang:en=5, topic:general=3"), now=0)
    r.agent_login("a2", now=0)
    for n, t in enumerate((10, 100, 200)):
        r.call_arrived(f"old{n}", "general", now=t)
        [offer] = r.decide(now=t)
        assert offer.agent_id == "a2"
        r.offer_accepted(offer.call_id, "a2", now=t + 1)
        r.call_ended("a2", now=t + 20)
    assert r.agent("a2").calls_handled == 3
    r.agent_logout("a2", now=300)
    r.agent_login("a2", now=400)  # a new shift
    r.agent_login("a1", now=500)  # idle less long than a2, and never took a call
    assert r.agent("a2").calls_handled == 0
    r.call_arrived("new", "general", now=600)
    [offer] = r.decide(now=600)
    assert offer.agent_id == "a2"  # equal counts: the longest idle
