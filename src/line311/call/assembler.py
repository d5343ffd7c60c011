"""Joining a call's IVR part with its queue leg into the one `CallRecord` (pure).

The two halves end in either order: the IVR session ends when the queue runtime takes the
caller (and the leg goes on), but a caller who hangs up while being put on hold ends the leg
before the IVR session has finished. The assembler holds whichever half comes first::

    ivr_ended(record, leg_open=False)  and no leg seen   ─▶ the record, as it is
    ivr_ended(record, leg_open=True)                      ─▶ held until leg_ended
    leg_ended(call_id, leg)  with the IVR part held       ─▶ the joined record
    leg_ended(call_id, leg)  before the IVR part          ─▶ held until ivr_ended

`drain` hands back what is still held (at shutdown): IVR parts with an interrupted leg,
legs without an IVR part are dropped with their ids returned (there is nothing to record
them against). At most ``max_held`` halves are held; past that the oldest is released.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from line311.call.record import CallRecord, QueueLeg

__all__ = ["RecordAssembler"]


class RecordAssembler:
    """See the module docstring."""

    def __init__(
        self,
        *,
        open_leg: Callable[[str], QueueLeg | None] | None = None,
        max_held: int = 100_000,
    ) -> None:
        """``open_leg(call_id)``: the leg so far of a call still in a queue (for `drain`)."""
        self._open_leg = open_leg
        self._max = max_held
        self._ivr: OrderedDict[str, CallRecord] = OrderedDict()
        self._legs: OrderedDict[str, QueueLeg] = OrderedDict()

    @property
    def held(self) -> int:
        return len(self._ivr) + len(self._legs)

    def ivr_ended(self, ivr: Mapping[str, Any] | CallRecord, *, leg_open: bool) -> list[CallRecord]:
        """The IVR part of a call; ``leg_open``: the call is in a queue right now."""
        record = ivr if isinstance(ivr, CallRecord) else CallRecord.from_dict(ivr)
        leg = self._legs.pop(record.call_id, None)
        if leg is not None:
            return [record.with_leg(leg)]
        if not leg_open:
            return [record]
        self._ivr[record.call_id] = record
        return self._bound()

    def leg_ended(self, call_id: str, leg: QueueLeg) -> list[CallRecord]:
        """The queue leg of ``call_id`` is over."""
        record = self._ivr.pop(call_id, None)
        if record is not None:
            return [record.with_leg(leg)]
        self._legs[call_id] = leg
        return self._bound()

    def drain(self) -> list[CallRecord]:
        """Everything held, as records (see the module docstring); the assembler is empty."""
        out = []
        for call_id, record in self._ivr.items():
            leg = self._open_leg(call_id) if self._open_leg is not None else None
            out.append(record if leg is None else record.with_leg(leg))
        self._ivr.clear()
        self._legs.clear()
        return out

    def _bound(self) -> list[CallRecord]:
        out: list[CallRecord] = []
        while self.held > self._max:
            if self._ivr:
                _, record = self._ivr.popitem(last=False)
                out.append(record)
            else:
                self._legs.popitem(last=False)
        return out
