"""The queue event hub: every sink and hook is told, and a failing one never stops the rest."""

from __future__ import annotations

import logging

import pytest

from line311.ari.queueing import QueueEventHub
from line311.queue.events import CallEnqueued, OfferMissed

T = 1_790_000_000.0


def _boom(*_: object) -> None:
    raise RuntimeError("boom")


def test_given_a_failing_sink_or_hook_then_it_is_logged_and_the_others_are_still_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: list[object] = []
    hub = QueueEventHub(sinks=[_boom, told.append])
    hub.on_resumed += [_boom, lambda *args: told.append(args)]
    hub.on_ring += [_boom, told.append]
    enqueued = CallEnqueued("c1", "general", T)
    missed = OfferMissed("c1", "general", T + 20, "agent1", 15.0)
    with caplog.at_level(logging.ERROR, logger="line311.ari.queueing"):
        hub.emit(enqueued)
        hub.resumed(enqueued, T + 5, "agent1")
        hub.ring(missed)
    assert told == [enqueued, (enqueued, T + 5, "agent1"), missed]
    assert [r.getMessage().split(" <")[0] for r in caplog.records] == [
        "queue event sink",
        "queue resume hook",
        "ring hook",
    ]
    assert hub.emitted == 1
