"""How a call ended: the one `Outcome` vocabulary, how a queue leg ended, and `RecordError`.

The IVR session, the record schema of the CRM bridge, the database and the dashboard all use
`Outcome`; `line311.call.record` re-exports these names.
"""

from __future__ import annotations

import enum

__all__ = ["IVR_RESOLVED", "LegEnd", "Outcome", "RecordError"]


class RecordError(ValueError):
    """A call record (or queue leg) that does not hold together; the message says why."""


class Outcome(enum.StrEnum):
    """How a call ended. The value is what the record, the database and the dashboard carry."""

    # the IVR
    COMPLETED = "completed"
    """The IVR finished its flow and hung up, with no resolution."""
    ABANDONED = "abandoned"
    """The caller hung up in the thin layer (before the start node was left)."""
    FAILED = "failed"
    """Something went wrong (a command failed, a watchdog fired, the controller stopped)."""
    SELF_SERVED = "self_served"
    """The caller heard self-service information."""
    QUEUED = "queued"
    """Handed to a queue; only the IVR's own view: the final record says how the leg ended."""
    REFERRED = "referred"
    """Transferred to another agency's line."""
    SR_LOOKUP = "sr_lookup"
    """The caller heard the status of their service request."""
    ABANDONED_IN_IVR = "abandoned_in_ivr"
    """The caller hung up in the menus without a resolution."""
    # the queue leg
    HANDLED = "handled"
    """A CCR answered and spoke with the caller."""
    CALLBACK_HANDLED = "callback_handled"
    """The caller asked for a callback, kept their place, and a CCR reached them."""
    ABANDONED_IN_QUEUE = "abandoned_in_queue"
    """The caller hung up while waiting (or while a CCR's phone rang)."""
    CALLBACK_FAILED = "callback_failed"
    """The caller asked for a callback and could not be reached when their turn came."""
    QUEUE_TIMEOUT = "queue_timeout"
    """The queue gave up (maximum wait reached)."""
    # either
    MEDIA_SERVER_LOST = "media_server_lost"
    """The Asterisk that carried the call's media died (crashed or was restarted) while the
    call was on it, in the IVR or in a queue before a CCR answered: a system failure, not a
    caller who gave up."""


IVR_RESOLVED = frozenset({Outcome.SELF_SERVED, Outcome.SR_LOOKUP, Outcome.REFERRED})
"""Outcomes that count as resolved in the IVR (no CCR needed)."""


class LegEnd(enum.StrEnum):
    """How a queue leg ended."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    """The controller stopped while the call was still in the queue."""
    MEDIA_SERVER_LOST = "media_server_lost"
    """The caller's Asterisk died while the caller waited (or a CCR's phone rang)."""
