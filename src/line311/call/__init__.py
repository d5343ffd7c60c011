"""The call vocabulary (pure), shared by every session kind and every edge.

- `events`: what happened (past tense), the only things a session receives;
- `commands`: what a session asks the edge to do (imperative);
- `ports`: the `Session` protocol the runner drives and the process's one `Clock`;
- `record`: the one `CallRecord` per call and the `Outcome` vocabulary;
- `assembler`: the join of the IVR part with the queue leg (whose facts `queue.leg_facts`
  gathers as they happen);
- `srnumber`: service request numbers (made by the CRM, keyed by callers in the IVR).
"""

from line311.call.record import CallRecord, LegEnd, Outcome, QueueLeg, RecordError

__all__ = ["CallRecord", "LegEnd", "Outcome", "QueueLeg", "RecordError"]
