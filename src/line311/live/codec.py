"""How routing records look in Redis (pure: no I/O, shared by the store, tests and bench).

* A waiting call's **member** in its sorted sets is ``<seq as 16 hex digits>:<call id>`` and
  its **score** is its rank (priority-weighted entry time, see ``line311.routing.waiting``).
  Redis orders equal scores by member, so the fixed-width seq breaks ties exactly as
  `WaitingCall.order_key` does: ``(rank, seq)``.
* A **lane** is the router's bucket (queue, language, escalation step, extra terms: calls with
  identical needs) as a compact JSON string. Every call of a lane can be taken by the same
  agents, so serving a lane's head first is serving the queue in order.
* The call's record (`WaitingCall.to_dict` without the offer, which lives in its own fields)
  is JSON.
* A stored **entry** (a call's session state, a hand-off) is a compact JSON object
  (`dump_object`, `load_object`): a value that is not JSON, NaN included, fails when it is
  written, in the step that produced it, not when another process reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from line311.live.errors import LiveStateError
from line311.routing.agents import TRANSITIONS, AgentEvent, AgentState
from line311.routing.store import BucketKey
from line311.routing.waiting import WaitingCall

__all__ = [
    "bucket_of_lane",
    "call_from_record",
    "call_id_of",
    "call_record",
    "dump_object",
    "lane_of",
    "lane_of_bucket",
    "load_object",
    "member_of",
    "sources",
    "target_of",
]

_SEQ_DIGITS = 16


def dump_object(value: Mapping[str, Any], what: str) -> str:
    """``value`` as compact JSON; `LiveStateError` ("<what> is not JSON (why)") otherwise."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LiveStateError(f"{what} is not JSON ({exc})") from None


def load_object(text: str | bytes, what: str) -> dict[str, Any]:
    """The JSON object in ``text``; `LiveStateError` when it is not JSON or not an object."""
    try:
        data = json.loads(text)
    except ValueError:
        raise LiveStateError(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise LiveStateError(f"{what} is not a JSON object")
    return data


def member_of(call: WaitingCall) -> str:
    """The call's member in its queue and lane sorted sets."""
    if not 0 <= call.seq < 16**_SEQ_DIGITS:
        raise ValueError(f"call {call.call_id!r}: seq {call.seq} out of range")
    return f"{call.seq:0{_SEQ_DIGITS}x}:{call.call_id}"


def call_id_of(member: str) -> str:
    """The call id inside a member written by `member_of`."""
    return member[_SEQ_DIGITS + 1 :]


def lane_of_bucket(bucket: BucketKey) -> str:
    queue, language, step, extra = bucket
    return json.dumps([queue, language, step, [list(t) for t in extra]], separators=(",", ":"))


def lane_of(call: WaitingCall) -> str:
    """The lane a call is matched in (its bucket, whether or not an offer is ringing)."""
    return lane_of_bucket((call.queue, call.language, call.step, call.requires))


def bucket_of_lane(lane: str) -> BucketKey:
    queue, language, step, extra = json.loads(lane)
    return (str(queue), language, int(step), tuple((str(s), int(lv)) for s, lv in extra))


def call_record(call: WaitingCall) -> str:
    """The call's JSON record without the offer fields (``offered_to``, ``offers``)."""
    data = call.to_dict()
    del data["offered_to"], data["offers"]
    return json.dumps(data, separators=(",", ":"))


def call_from_record(record: str, offered_to: str | None, offers: int) -> WaitingCall:
    data: dict[str, Any] = json.loads(record)
    data["offered_to"] = offered_to or None
    data["offers"] = offers
    return WaitingCall.from_dict(data)


def sources(event: AgentEvent) -> list[str]:
    """The agent states ``event`` may be applied in (from the one transition table)."""
    return sorted(s.value for (s, e) in TRANSITIONS if e is event)


def target_of(event: AgentEvent) -> AgentState:
    """The one state ``event`` leads to (every event the live store applies has one)."""
    found = {t for (_, e), t in TRANSITIONS.items() if e is event}
    if len(found) != 1:
        raise ValueError(f"event {event.value!r} leads to {len(found)} states")
    return found.pop()
