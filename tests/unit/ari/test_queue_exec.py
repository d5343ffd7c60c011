"""The queue leg's ARI commands carried out, and Asterisk's refusals fed back to the leg."""

from __future__ import annotations

import asyncio
from typing import Any

from line311.ari.errors import AriError, AriNotFound
from line311.ari.queue_exec import LegWorker
from line311.call.commands import (
    AddToBridge,
    CreateBridge,
    HideIdentity,
    HoldCaller,
    Originate,
    PlayPrompts,
    ReadContact,
    RemoveFromBridge,
    StopMoh,
)
from line311.call.events import ChannelGone, CommandFailed, ContactRead, PlaybackFinished
from tests.unit.ari.test_queue_runtime import NUMBER, FakeAri


class FailingAri(FakeAri):
    def __init__(self, **fail: AriError) -> None:
        super().__init__()
        self.fail = fail

    def __getattribute__(self, name: str) -> Any:
        fail = object.__getattribute__(self, "__dict__").get("fail", {})
        if name in fail:

            async def refuse(*args: Any, **kw: Any) -> None:
                self.calls.append((name, *args))
                raise fail[name]

            return refuse
        return object.__getattribute__(self, name)


async def run(ari: FakeAri, *batch: Any) -> tuple[list[Any], LegWorker]:
    fed: list[Any] = []
    async with asyncio.TaskGroup() as tg:
        worker = LegWorker(
            "c1", ari, sounds_prefix="sound:/s/", callback_dial="PJSIP/t/sip:{number}@{address}",  # type: ignore[arg-type]
            feed=lambda _, e: fed.append(e), spawn=lambda coro: tg.create_task(coro),  # type: ignore[arg-type]
        )  # fmt: skip
        worker.submit(list(batch))
        worker.close()
        await worker.run(lambda: None)
    return fed, worker


NOT_FOUND = AriNotFound(404, "POST", "/x")
REFUSED = AriError(500, "POST", "/x")


async def test_a_caller_gone_before_the_hold_is_reported_gone_and_the_batch_stops() -> None:
    fed, _ = await run(
        FailingAri(create_bridge=NOT_FOUND), HoldCaller("c1", "hold-c1", "q"), StopMoh("c1")
    )
    assert fed == [ChannelGone("c1")]


async def test_a_failed_bridge_step_is_reported_and_the_rest_of_the_batch_dropped() -> None:
    ari = FailingAri(add_channel=REFUSED)
    fed, _ = await run(ari, CreateBridge("b", "n"), AddToBridge("b", ("c1", "a")), StopMoh("c1"))
    assert fed == [CommandFailed("bridge", str(REFUSED))]
    assert ari.did("stop_moh") == []
    fed, _ = await run(FailingAri(add_channel=REFUSED), AddToBridge("b", ("i",), critical=False))
    assert fed == []
    fed, _ = await run(FailingAri(remove_channel=REFUSED), RemoveFromBridge("b", "c1"))
    assert [type(e) for e in fed] == [CommandFailed]
    fed, _ = await run(FailingAri(set_channel_var=NOT_FOUND), HideIdentity("c1", "311", "311"))
    assert [type(e) for e in fed] == [CommandFailed]


async def test_an_originate_that_fails_is_a_channel_gone() -> None:
    fed, _ = await run(
        FailingAri(originate=REFUSED),
        Originate("c1-a1", "PJSIP/agent1", ("outbound", "agent", "c1"), "311", 15),
    )
    assert fed == [ChannelGone("c1-a1")]


async def test_a_callback_dials_the_contact_read_and_without_one_gives_up() -> None:
    ari = FakeAri()
    callback = Originate("c1-r1", "", ("outbound", "resident", "c1"), "311", 30, callback=True)
    fed, worker = await run(ari, ReadContact("c1"), callback)
    assert fed == [ContactRead(True)]
    assert ari.did("originate")[0][1] == f"PJSIP/t/sip:{NUMBER}@127.0.0.1:5099"
    assert NUMBER not in repr(worker.contact)
    fed, _ = await run(FakeAri(), callback)
    assert fed == [ChannelGone("c1-r1")]
    fed, _ = await run(FailingAri(get_channel=REFUSED), ReadContact("c1"))
    assert fed == [ContactRead(False)]


async def test_a_playback_always_ends_in_playback_finished() -> None:
    play = PlayPrompts("c1", "p1", ("queue/periodic",), "en")
    fed, _ = await run(FakeAri(), play)
    assert fed == [PlaybackFinished("p1")]
    fed, _ = await run(FailingAri(play=NOT_FOUND), play)
    assert fed == [PlaybackFinished("p1", failed=True)]
    silent = FakeAri()

    async def no_event(*args: Any, **kw: Any) -> None:
        return None

    silent.play = no_event  # type: ignore[method-assign]
    fed, _ = await run(silent, PlayPrompts("c1", "p2", ("x",), "en", max_wait=0.01))
    assert fed == [PlaybackFinished("p2")]
