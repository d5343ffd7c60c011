"""The call record, written once per call when the call really ends (edge glue).

::

    Runner (ivr kind) ──record_sink──▶ CallRecorder.on_ivr_record ─┐
    QueueKind ──leg_sink───▶ CallRecorder.on_leg ──────────────────┼─▶ RecordAssembler (pure join)
                                                            └─▶ RecordDelivery.submit (durable)
                                                                 + listeners (the dashboard)

The IVR part of a call that is in a queue (``in_queue``) is held until its queue leg ends;
every other record goes out at once. At shutdown, `close` writes what is still held (calls
still queued get their leg so far, as interrupted) so no call goes unrecorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from line311.call.assembler import RecordAssembler
from line311.call.record import CallRecord, QueueLeg, RecordError

__all__ = ["CallRecorder", "RecordListener"]

logger = logging.getLogger(__name__)

RecordListener = Callable[[Mapping[str, Any]], None]


class _Submits(Protocol):
    def submit(self, record: Mapping[str, Any]) -> None: ...


class CallRecorder:
    """See the module docstring."""

    def __init__(
        self,
        delivery: _Submits,
        *,
        in_queue: Callable[[str], bool] = lambda _call_id: False,
        open_leg: Callable[[str], QueueLeg | None] | None = None,
        listeners: Sequence[RecordListener] = (),
    ) -> None:
        self._delivery = delivery
        self._in_queue = in_queue
        self._assembler = RecordAssembler(open_leg=open_leg)
        self._listeners = list(listeners)
        self.written = 0

    @property
    def held(self) -> int:
        return self._assembler.held

    async def on_ivr_record(self, record: dict[str, Any]) -> None:
        """The controller's ``record_sink``: the IVR part of a call ended."""
        call_id = str(record.get("call_id"))
        try:
            done = self._assembler.ivr_ended(record, leg_open=self._in_queue(call_id))
        except RecordError as exc:
            # our bug: still write what we have (the bridge keeps or refuses it, visibly)
            logger.error(
                "call %s: the IVR record is not valid (%s); writing it as is", call_id, exc
            )
            self._write(record)
            return
        for finished in done:
            self._write_record(finished)

    def restore_ivr_record(self, record: Mapping[str, Any]) -> None:
        """The IVR half of a queued call resumed by this process (it was held by the process
        that died): held again until the call's leg ends."""
        try:
            done = self._assembler.ivr_ended(dict(record), leg_open=True)
        except RecordError as exc:
            logger.error(
                "call %s: the stored IVR record is not valid (%s)", record.get("call_id"), exc
            )
            return
        for finished in done:
            self._write_record(finished)

    def on_leg(self, call_id: str, leg: QueueLeg) -> None:
        """The queue runtime's ``leg_sink``: a call's queue leg is over."""
        for finished in self._assembler.leg_ended(call_id, leg):
            self._write_record(finished)

    def close(self, *, calls_go_on: bool = False) -> None:
        """The controller is stopping: write every record still held, with the leg so far,
        unless ``calls_go_on`` (the calls' state is in a shared store, so the next controller
        resumes them and writes each record once, when the call really ends)."""
        held = self._assembler.drain()
        if held and calls_go_on:
            logger.info(
                "leaving %d open call record(s) to the controller that resumes the calls",
                len(held),
            )
            return
        if held:
            logger.info("writing %d call record(s) of calls still open at shutdown", len(held))
        for finished in held:
            self._write_record(finished)

    def _write_record(self, record: CallRecord) -> None:
        self._write(record.to_dict())

    def _write(self, data: Mapping[str, Any]) -> None:
        self._delivery.submit(data)
        self.written += 1
        for listener in self._listeners:
            try:
                listener(data)
            except Exception:
                logger.exception("call record listener %r failed", listener)
