"""The waiting list: service order, positions, oldest caller, callbacks keep their place."""

from __future__ import annotations

import pytest

from line311.routing.waiting import WaitingCall, WaitingList


def call(call_id: str, entered: float, seq: int, *, queue: str = "q", rank: float | None = None):
    return WaitingCall(call_id, queue, entered, seq, entered if rank is None else rank)


def test_calls_are_served_by_rank_then_arrival_and_positions_follow():
    w = WaitingList()
    w.add(call("a", 10, 1))
    w.add(call("b", 10, 2))
    w.add(call("c", 20, 3, rank=5))  # priority moved it ahead
    w.add(call("x", 0, 4, queue="other"))
    assert [c.call_id for c in w.in_queue("q")] == ["c", "a", "b"]
    assert [w.position(i) for i in ("c", "a", "b", "x")] == [1, 2, 3, 1]
    assert w.oldest("q").call_id == "a"
    assert w.count("q") == 3
    assert sorted(w.queues()) == ["other", "q"]
    assert len(w) == 4
    assert "a" in w
    assert w["a"].queue == "q"


def test_removing_a_call_moves_the_ones_behind_up():
    w = WaitingList()
    for i, cid in enumerate("abc"):
        w.add(call(cid, i, i))
    assert w.remove("a").call_id == "a"
    assert [w.position(i) for i in ("b", "c")] == [1, 2]
    w.remove("b")
    w.remove("c")
    assert w.queues() == []
    assert w.oldest("q") is None
    assert w.in_queue("q") == []
    with pytest.raises(KeyError):
        w.remove("a")


def test_a_callback_and_an_offer_keep_the_place_but_a_move_is_refused():
    w = WaitingList()
    w.add(call("a", 1, 1))
    w.add(call("b", 2, 2))
    flagged = WaitingList.flag_callback(w["b"], now=30)
    assert WaitingList.flag_callback(flagged, now=40) is flagged
    w.update(flagged)
    w.update(w["a"].offered("agent-1"))
    assert w["a"].offers == 1
    assert w["a"].offered(None).offered_to is None
    assert [w.position(i) for i in ("a", "b")] == [1, 2]
    assert w["b"].callback
    assert w["b"].callback_since == 30
    with pytest.raises(ValueError, match="place"):
        w.update(call("b", 0, 2))
    with pytest.raises(ValueError, match="already waiting"):
        w.add(call("a", 1, 1))


def test_a_waiting_call_round_trips_through_a_dict():
    c = WaitingCall("a", "q", 1.0, 7, -59.0, "es", "housing", 1, requires=(("access:tty", 2),))
    assert WaitingCall.from_dict(c.to_dict()) == c
    assert c.waited(31.0) == 30.0
    assert c.waited(0.0) == 0.0
