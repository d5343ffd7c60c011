"""The queued call as a runner kind: what it makes of its channels' events (edge of
`line311.queue.leg`).

`adopt` is the kind's ``SessionKind.adopt``-shaped translation: an event of one of the leg's
channels (the caller's, or a CCR / interpreter / resident channel the leg originated) as the
leg's own event. `line311.ari.queue_runtime.QueueRuntime` uses it for the channels it owns
until the queued call is a `line311.ari.kinds.SessionKind` of the runner.
"""

from __future__ import annotations

from line311.ari.translate import NewCall
from line311.call.events import CallerHungUp, ChannelGone, ChannelUp, DtmfReceived, Event

__all__ = ["adopt"]


def adopt(caller_channel: str | None, channel_id: str, event: Event | NewCall) -> Event | None:
    """``event`` of ``channel_id`` as the leg's event (None: the leg does not hear of it).

    - a StasisStart (`NewCall`) of a channel the leg originated: `ChannelUp`;
    - a hang-up: the caller's as is (`CallerHungUp`), another channel's as `ChannelGone`;
    - keys: only the caller's.
    """
    is_caller = channel_id == caller_channel
    if isinstance(event, NewCall):
        return None if is_caller else ChannelUp(channel_id)
    if isinstance(event, CallerHungUp):
        return event if is_caller else ChannelGone(channel_id)
    if isinstance(event, DtmfReceived) and is_caller:
        return event
    return None
