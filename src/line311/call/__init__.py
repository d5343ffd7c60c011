"""The call record (pure): one `CallRecord` per call, the `Outcome` vocabulary, the queue
leg's facts gathered as they happen, and the join of the IVR part with the queue leg."""

from line311.call.record import CallRecord, LegEnd, Outcome, QueueLeg, RecordError

__all__ = ["CallRecord", "LegEnd", "Outcome", "QueueLeg", "RecordError"]
