"""Real-time figures of a queue (pure): what a wallboard and the desk API show."""

from __future__ import annotations

from line311.routing.agents import AgentState
from line311.routing.decide import WORKING
from line311.routing.queues import QueueSet
from line311.routing.results import QueueStats
from line311.routing.store import RoutingStore

__all__ = ["queue_stats"]


def queue_stats(queues: QueueSet, store: RoutingStore, queue: str, now: float) -> QueueStats:
    """Real-time figures for ``queue``."""
    q = queues[queue]
    calls = store.calls_in(q.name)
    oldest = store.oldest_in(q.name)
    eligible = available = working = on_call = paused = 0
    for agent in store.logged_in():
        if not q.requires.matches(agent.skills):
            continue
        eligible += 1
        state = agent.state
        available += state is AgentState.AVAILABLE
        working += state in WORKING
        on_call += state is AgentState.ON_CALL
        paused += state is AgentState.PAUSED
    return QueueStats(
        queue=q.name,
        waiting=len(calls),
        callbacks_waiting=sum(1 for c in calls if c.callback),
        longest_wait=oldest.waited(now) if oldest is not None else 0.0,
        eligible_agents=eligible,
        available_agents=available,
        working_agents=working,
        on_call_agents=on_call,
        paused_agents=paused,
        handle_time=store.handle_time(q.name) or q.default_handle_time,
    )
