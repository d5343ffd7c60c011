"""Calls waiting for a CCR, in the order they will be served.

Theory of operation
-------------------
Every waiting call gets, on arrival, two numbers that never change while it waits:

* ``seq``  - a global arrival counter (ties broken by it, so order is total), and
* ``rank`` - its *priority-weighted entry time*: ``entered_at - weight * priority``.

A queue is served in ascending ``(rank, seq)``. With equal priority that is plain FIFO;
each priority level moves a call ``weight`` seconds ahead (so high priority jumps the line
without starving anyone, and ``rank`` compares fairly across queues: the lowest rank is the
longest priority-weighted waiter). Because the key is fixed at arrival, a call keeps its
place through everything that happens while it waits: escalation steps, an offer that is
rejected or rings out, and a callback request (the caller hangs up, the entry stays and is
flagged ``callback``). The router computes ``rank``; this module only keeps the order.

`WaitingList` holds the calls of all queues: per queue one list sorted by ``(rank, seq)``
(for positions and service order) and one by ``(entered_at, seq)`` (for the longest wait),
both maintained with `bisect`, so position look-ups are O(log n) and updates move memory in
C. It is a plain container: unknown ids raise `KeyError`, a duplicate id `ValueError`;
the router turns those into routing errors before they can happen.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["WaitingCall", "WaitingList"]

_Key = tuple[float, int, str]


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """One call waiting in a queue (or, after a callback request, a caller waiting offline).

    ``requires`` holds extra ``(skill, min_level)`` terms for this call alone, on top of what
    its queue and language need. ``step`` counts the escalation steps applied so far;
    ``offered_to`` is the agent currently reserved for it (the call keeps its place while
    the offer rings).
    """

    call_id: str
    queue: str
    entered_at: float
    seq: int
    rank: float
    language: str | None = "en"
    topic: str | None = None
    priority: int = 0
    callback: bool = False
    callback_since: float | None = None
    step: int = 0
    offered_to: str | None = None
    offers: int = 0
    requires: tuple[tuple[str, int], ...] = ()

    def offered(self, agent_id: str | None) -> WaitingCall:
        """The same entry with an offer to ``agent_id`` ringing (None: offer settled).

        (A hand-written copy: this is on the routing hot path and `dataclasses.replace`
        is several times slower.)
        """
        return WaitingCall(
            self.call_id,
            self.queue,
            self.entered_at,
            self.seq,
            self.rank,
            self.language,
            self.topic,
            self.priority,
            self.callback,
            self.callback_since,
            self.step,
            agent_id,
            self.offers + (agent_id is not None),
            self.requires,
        )

    @property
    def order_key(self) -> _Key:
        """Service order: ascending. Fixed for the call's whole wait."""
        return (self.rank, self.seq, self.call_id)

    @property
    def age_key(self) -> _Key:
        return (self.entered_at, self.seq, self.call_id)

    def waited(self, now: float) -> float:
        """Seconds since the call entered the queue."""
        return max(0.0, now - self.entered_at)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot (for a shared store or a controller restart)."""
        return {
            "call_id": self.call_id,
            "queue": self.queue,
            "entered_at": self.entered_at,
            "seq": self.seq,
            "rank": self.rank,
            "language": self.language,
            "topic": self.topic,
            "priority": self.priority,
            "callback": self.callback,
            "callback_since": self.callback_since,
            "step": self.step,
            "offered_to": self.offered_to,
            "offers": self.offers,
            "requires": [list(t) for t in self.requires],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WaitingCall:
        """Rebuild a call written by `to_dict`."""
        fields = dict(data)
        fields["requires"] = tuple((str(s), int(lv)) for s, lv in fields.get("requires", ()))
        return cls(**fields)


class WaitingList:
    """All waiting calls of all queues, each queue in service order. See the module doc."""

    __slots__ = ("_age", "_calls", "_order")

    def __init__(self) -> None:
        self._calls: dict[str, WaitingCall] = {}
        self._order: dict[str, list[_Key]] = {}
        self._age: dict[str, list[_Key]] = {}

    def add(self, call: WaitingCall) -> None:
        """Put a new call in its place. Raises `ValueError` if the id is already waiting."""
        if call.call_id in self._calls:
            raise ValueError(f"call {call.call_id!r} is already waiting")
        self._calls[call.call_id] = call
        bisect.insort(self._order.setdefault(call.queue, []), call.order_key)
        bisect.insort(self._age.setdefault(call.queue, []), call.age_key)

    def update(self, call: WaitingCall) -> WaitingCall:
        """Replace a waiting call's record (flags, step, offer) without moving it.

        Returns the previous record. Raises `KeyError` for an unknown id and `ValueError`
        if the change would move the call (queue, rank, seq or entry time changed).
        """
        old = self._calls[call.call_id]
        if (
            old.order_key != call.order_key
            or old.queue != call.queue
            or (old.entered_at != call.entered_at)
        ):
            raise ValueError(f"call {call.call_id!r}: update may not change its place")
        self._calls[call.call_id] = call
        return old

    def remove(self, call_id: str) -> WaitingCall:
        """Take a call out (answered, abandoned, expired). Raises `KeyError` if unknown."""
        call = self._calls.pop(call_id)
        for index, key in ((self._order, call.order_key), (self._age, call.age_key)):
            keys = index[call.queue]
            del keys[bisect.bisect_left(keys, key)]
            if not keys:
                del index[call.queue]
        return call

    def get(self, call_id: str) -> WaitingCall | None:
        return self._calls.get(call_id)

    def __getitem__(self, call_id: str) -> WaitingCall:
        return self._calls[call_id]

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[WaitingCall]:
        return iter(list(self._calls.values()))

    def position(self, call_id: str) -> int:
        """1-based place of the call in its queue (calls being offered count: they are
        still ahead). Raises `KeyError` if unknown."""
        call = self._calls[call_id]
        return bisect.bisect_left(self._order[call.queue], call.order_key) + 1

    def in_queue(self, queue: str) -> list[WaitingCall]:
        """The queue's calls in service order."""
        calls = self._calls
        return [calls[key[2]] for key in self._order.get(queue, ())]

    def count(self, queue: str) -> int:
        return len(self._order.get(queue, ()))

    def oldest(self, queue: str) -> WaitingCall | None:
        """The call that has waited longest in ``queue`` (by entry time, not by rank)."""
        keys = self._age.get(queue)
        return self._calls[keys[0][2]] if keys else None

    def queues(self) -> list[str]:
        """Names of the queues with at least one waiting call."""
        return list(self._order)

    @staticmethod
    def flag_callback(call: WaitingCall, now: float) -> WaitingCall:
        """The same entry, same place, marked as a callback requested at ``now``."""
        if call.callback:
            return call
        return replace(call, callback=True, callback_since=now)
