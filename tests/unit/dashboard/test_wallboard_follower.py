"""The dashboard process's follower over a scripted journal: the day read back at a cut, the
stream followed from it, a Redis outage read back again from scratch, a bad fact skipped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from line311.dashboard.facts import (
    AgentNamed,
    AlertRaised,
    AlertWithdrawn,
    QueueConfigured,
    QueueGoalChanged,
)
from line311.dashboard.follow import WallboardFollower
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState
from line311.live.errors import LiveUnavailableError
from line311.queue.events import CallAbandoned, CallEnqueued
from tests.fixtures.polling import until

T0 = 1_700_000_000.0


@dataclass
class Restored:
    facts: list[Any]
    position: str


@dataclass
class ScriptedJournal:
    """Redis as the follower sees it: the day's facts, and a stream of (id, fact)."""

    day: list[Any] = field(default_factory=list)
    stream: list[tuple[int, Any]] = field(default_factory=list)
    down: bool = False
    loads: int = 0
    reads: list[str] = field(default_factory=list)

    def publish(self, fact: Any, *, for_the_day: bool = True) -> None:
        if for_the_day:
            self.day.append(fact)
        self.stream.append((len(self.stream) + 1, fact))

    async def load(self, now: float) -> Restored:
        if self.down:
            raise LiveUnavailableError("live state unreachable")
        self.loads += 1
        return Restored(list(self.day), f"{len(self.stream)}-0")

    async def follow(self, after: str) -> tuple[str, list[Any]]:
        self.reads.append(after)
        if self.down:
            raise LiveUnavailableError("live state unreachable")
        since = int(after.split("-")[0])
        new = [(n, f) for n, f in self.stream if n > since]
        if not new:
            await asyncio.sleep(0.001)  # XREAD BLOCK: waits for the next fact
        return (f"{new[-1][0]}-0" if new else after), [f for _, f in new]


def _fresh() -> LiveState:
    state = LiveState()
    state.apply(QueueConfigured("general", 0.8))
    state.apply(AgentNamed("1001", "Ana"))
    return state


def _waiting(hub: LiveHub) -> int:
    return int(hub.state.snapshot(T0 + 100)["queues"][0]["waiting"])


async def test_given_a_day_when_started_then_read_back_then_each_new_fact_applied_once() -> None:
    journal = ScriptedJournal()
    journal.publish(CallEnqueued("c1", "general", T0))
    journal.publish(CallEnqueued("c2", "general", T0 + 1))
    hub = LiveHub(LiveState())
    follower = WallboardFollower(journal, hub, _fresh, clock=lambda: T0 + 100)

    await follower.step()
    assert journal.reads == ["2-0"]  # followed from the cut, not from the start
    assert _waiting(hub) == 2
    assert hub.state.queue_names() == ["general"]  # the configuration, then the day
    journal.publish(CallAbandoned("c1", "general", T0 + 20))
    journal.publish(QueueGoalChanged("general", 0.9, T0 + 21))
    await follower.step()
    await follower.step()  # nothing new: nothing applied twice
    assert _waiting(hub) == 1
    assert hub.state.goal("general") == 0.9
    assert (follower.facts, follower.loads) == (2, 1)


async def test_given_redis_away_when_it_is_back_then_the_day_is_read_again_from_scratch() -> None:
    journal = ScriptedJournal()
    journal.publish(CallEnqueued("c1", "general", T0))
    hub = LiveHub(LiveState())
    follower = WallboardFollower(journal, hub, _fresh, clock=lambda: T0 + 100, retry_every=0.01)
    running = asyncio.create_task(follower.run())
    try:
        await until(lambda: follower.up, 5, "the day read")
        journal.down = True
        await until(lambda: not follower.up, 5, "the outage noticed")
        assert follower.reason == "live state unreachable"
        assert _waiting(hub) == 1  # the board keeps what it had
        # meanwhile, facts the stream may not keep: the day read back has them
        journal.day.append(CallEnqueued("c2", "general", T0 + 5))
        journal.stream.clear()
        journal.down = False
        await until(lambda: follower.up, 5, "the day read again")
        assert follower.loads >= 2
        assert _waiting(hub) == 2
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_given_a_fact_the_board_refuses_then_it_is_skipped_and_the_rest_applied() -> None:
    journal = ScriptedJournal()
    journal.publish(QueueGoalChanged("general", 7.0, T0))  # not a goal: refused by the state
    journal.publish(CallEnqueued("c1", "general", T0 + 1))
    hub = LiveHub(LiveState())
    follower = WallboardFollower(journal, hub, _fresh, clock=lambda: T0 + 100)
    await follower.step()
    assert follower.skipped == 1
    assert _waiting(hub) == 1
    journal.publish(QueueGoalChanged("general", -1.0, T0 + 2), for_the_day=False)
    journal.publish(CallEnqueued("c2", "general", T0 + 3))
    await follower.step()
    assert follower.skipped == 2
    assert _waiting(hub) == 2


def test_active_alerts_are_what_a_new_state_takes_over_oldest_first() -> None:
    state = LiveState()
    state.apply(AlertRaised("b", T0 + 2, "Heat"))
    state.apply(AlertRaised("a", T0 + 1, "Snow"))
    state.apply(AlertRaised("c", T0 + 3, "Noise"))
    state.apply(AlertWithdrawn("c", T0 + 4))
    assert [a.alert_id for a in state.active_alerts()] == ["a", "b"]
    other = LiveState()
    for alert in state.active_alerts():
        other.apply(alert)
    assert other.snapshot(T0 + 5)["alerts"] == state.snapshot(T0 + 5)["alerts"]
