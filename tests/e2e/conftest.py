"""Fixtures and helpers shared by the end-to-end tests (real Asterisk, SIPp, line311 processes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AsteriskInstance, free_tcp_ports, ports_of
from tests.e2e.stack import AriObserver, Stack, stack_env, wait_until
from tests.e2e.supervised import Supervised

GREETING_ONLY_FLOW = """\
flow: greeting-only
version: 1
start: greeting
nodes:
  greeting: {kind: play, prompts: [greeting], next: end}
  end: {kind: hangup}
  representative: {kind: queue, topic: general}
"""
"""The issue-2 call: greeting, then hang up (the shipped flow goes on to the menus)."""


GENERAL_QUEUE = """\
queues:
  general:
    requires: "topic:general"
    wrapup_seconds: 1
    interpreter_when_unstaffed: false
"""
"""One ``general`` queue with a 1-second wrap-up, so queue runs stay short."""


def greeting_only_flow(workdir: Path) -> Path:
    path = workdir / "greeting-only.yaml"
    path.write_text(GREETING_ONLY_FLOW)
    return path


def start_stack(
    instance: AsteriskInstance, workdir: Path, extra_env: dict[str, str] | None = None
) -> Stack:
    """CRM bridge + controller for ``instance``, started; the caller stops it."""
    # none of the instance's ports: a TCP pick may land on the number of its SIP (UDP) port,
    # which the settings refuse ("http_port and sip_port are both ...")
    http_port, crm_port = free_tcp_ports(2, ports_of(instance.settings.model_dump()))
    env = stack_env(instance.env, workdir, http_port, crm_port)
    env.update(extra_env or {})
    stack = Stack(env, workdir, http_port, crm_port)
    stack.start()
    return stack


def general_queue_env(workdir: Path) -> dict[str, str]:
    """Env overrides for a stack whose only queue is `GENERAL_QUEUE` (written to ``workdir``):
    phones ring for 4 s, no periodic announcement."""
    path = workdir / "queues.yaml"
    path.write_text(GENERAL_QUEUE)
    return {
        "LINE311_QUEUES_FILE": str(path),
        "LINE311_QUEUE_RING_TIMEOUT": "4",
        "LINE311_QUEUE_PERIODIC_INTERVAL": "0",
    }


@contextmanager
def running_stack(
    instance: AsteriskInstance, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """`start_stack`, stopped on the way out (for the ``stack`` fixtures of each module)."""
    stack = start_stack(instance, workdir, extra_env)
    try:
        yield stack
    finally:
        stack.stop()


def start_supervised(
    workdir: Path,
    flow: Path | None = None,
    *,
    queue: bool = False,
    extra_env: dict[str, str] | None = None,
    asterisks: int = 1,
) -> Supervised:
    """``line311 run`` in ``workdir``, started and answering (controller with ARI connected,
    CRM bridge); the caller closes it. The greeting-only flow unless ``flow``; ``queue`` adds
    the one ``general`` queue of `general_queue_env`; ``extra_env`` goes on top;
    ``asterisks=2``: Kamailio in front of two Asterisks."""
    env = general_queue_env(workdir) if queue else {}
    env.update(extra_env or {})
    sup = Supervised(workdir, flow or greeting_only_flow(workdir), env, asterisks=asterisks)
    try:
        sup.run.start()
        sup.wait_ready()
    except BaseException:
        sup.close()
        raise
    return sup


@pytest.fixture
def supervised_run(tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    """Start ``line311 run`` for the test (`start_supervised`: ``start(flow=None, *,
    queue=False, extra_env=None, asterisks=1)``); stopped, and its Asterisk instance removed,
    after the test."""
    started: list[Supervised] = []

    def start(
        flow: Path | None = None,
        *,
        queue: bool = False,
        extra_env: dict[str, str] | None = None,
        asterisks: int = 1,
    ) -> Supervised:
        sup = start_supervised(
            tmp_path, flow, queue=queue, extra_env=extra_env, asterisks=asterisks
        )
        started.append(sup)
        return sup

    try:
        yield start
    finally:
        for sup in started:
            sup.close()


@pytest.fixture
def observer(asterisk_instance: AsteriskInstance) -> Iterator[AriObserver]:
    obs = AriObserver(
        asterisk_instance.ari_url, asterisk_instance.ari_user, asterisk_instance.ari_password
    )
    try:
        yield obs
    finally:
        obs.close()


def playbacks(
    observer: AriObserver, state: str | None = None, kind: str = "PlaybackFinished"
) -> list[dict[str, Any]]:
    """Playbacks the observer saw (``kind`` events), optionally only those ending in ``state``.

    For ``PlaybackFinished``: the end of every media played, in order. The IVR plays prompts
    in a row as one media list, and Asterisk ends each prompt of a list but the last with
    ``PlaybackContinuing`` (state ``continuing``, read here as ``done``: Asterisk also
    continues past a prompt it could not play, which only its log tells)."""
    out = []
    for e in observer.snapshot():
        kind_seen = e.get("type")
        playback = e.get("playback", {})
        if kind == "PlaybackFinished" and kind_seen == "PlaybackContinuing":
            playback = {**playback, "state": "done"}
        elif kind_seen != kind:
            continue
        if state is None or playback.get("state") == state:
            out.append(playback)
    return out


def record_for(stack: Stack, dialed: str, known: set[str], timeout: float = 15) -> dict[str, Any]:
    """The first call record for ``dialed`` whose id is not in ``known`` (bounded poll)."""

    def new_record() -> dict[str, Any] | None:
        for rec in stack.calls():
            if rec["dialed_number"] == dialed and rec["call_id"] not in known:
                return rec
        return None

    return wait_until(new_record, timeout, f"a call record for {dialed}", step=0.3)  # type: ignore[no-any-return]
