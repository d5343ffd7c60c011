"""The wallboard with demo-like live traffic, for a Lighthouse run (issue 16); not a benchmark.

    python -m bench._wallboard_feed --port 18411 --cookie-file cookie.txt [--static DIR]

Serves the dashboard (SQLite in a temporary directory, a supervisor ``sam``) on 127.0.0.1,
writes ``line311_session=...`` of a signed-in session to ``--cookie-file`` (for Lighthouse's
``--extra-headers``), and publishes to the hub what the demo's traffic produces: four queues
configured at start (as the controller's bootstrap does); once a page is on the live stream,
every 0.7 s a resident through the IVR into a queue, answers, completions, abandons,
callbacks, CCRs logging in, pausing and wrapping up, alerts raised and withdrawn. ``--static``
serves the page from another directory (e.g. an older version's ``dashboard/static``, to
compare). Runs until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import tempfile
import time
from pathlib import Path

import httpx

import line311.dashboard.api as dashboard_api
import line311.dashboard.app as dashboard_app
from line311.dashboard.actions import InMemoryActions
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.state import (
    AgentNamed,
    AlertRaised,
    AlertWithdrawn,
    CallEnteredIvr,
    CallLeftIvr,
    LiveState,
    QueueConfigured,
)
from line311.db import make_engine, upgrade
from line311.http_server import make_embedded_server
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
)

QUEUES = ("general", "housing", "noise", "parking")
NAMES = ("Alex Rivera", "Ana Ruiz", "Ben Chen", "Dee Park", "Eli Novak", "Fatima Okafor")
CCRS = [(f"agent{i}", name) for i, name in enumerate(NAMES, 1)]
PASSWORD = "wallboard feed password"


def step(hub: LiveHub, n: int, t: float) -> None:
    """The ``n``-th beat of the traffic, at ``t``."""
    if n < len(CCRS):
        agent_id, name = CCRS[n]
        hub.publish(AgentNamed(agent_id, name))
        hub.publish(AgentStateChanged(agent_id, AgentActivity.AVAILABLE, t))
    queue, call_id = QUEUES[n % len(QUEUES)], f"c{n}"
    hub.publish(CallEnteredIvr(call_id, t))
    hub.publish(CallLeftIvr(call_id, t, resolved=n % 5 == 0))
    hub.publish(CallEnqueued(call_id, queue, t))
    if n % 7 == 3:
        hub.publish(CallbackRequested(call_id, queue, t))
    if n >= 2:
        prev, prev_queue = f"c{n - 2}", QUEUES[(n - 2) % len(QUEUES)]
        if n % 6 == 5:
            hub.publish(CallAbandoned(prev, prev_queue, t))
        else:
            agent_id = CCRS[n % len(CCRS)][0]
            hub.publish(CallAnswered(prev, prev_queue, t, agent_id=agent_id))
            hub.publish(AgentStateChanged(agent_id, AgentActivity.ON_CALL, t))
            hub.publish(CallCompleted(prev, prev_queue, t + 1, talk_seconds=60))
            hub.publish(AgentStateChanged(agent_id, AgentActivity.WRAP_UP, t + 1))
    if n % 9 == 4:
        paused = CCRS[(n + 3) % len(CCRS)][0]
        hub.publish(AgentStateChanged(paused, AgentActivity.PAUSED, t, reason="coaching"))
    if n % 10 == 2:
        hub.publish(AlertRaised(f"al{n}", t, "Water main break", "Calls from Queens", "warning"))
    if n % 10 == 8:
        hub.publish(AlertWithdrawn(f"al{n - 6}", t))


async def feed(hub: LiveHub) -> None:
    for queue in QUEUES:
        hub.publish(QueueConfigured(queue, 0.8))
    # everything else arrives while the page is open (the hub has no "connected" event)
    while not hub.clients:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for n in itertools.count():
        step(hub, n, time.time())
        await asyncio.sleep(0.7)


async def serve(port: int, cookie_file: Path, workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'line311.db'}"
    upgrade(url)
    store = AccountStore(make_engine(url))
    store.create("sam", PASSWORD, "supervisor")
    hub = LiveHub(LiveState())
    auth = Authenticator(store, "wallboard-feed-secret-0123456789abcdef")
    app = dashboard_app.create_app(
        lambda: {"ok": True}, hub=hub, auth=auth, actions=InMemoryActions(hub)
    )
    server = make_embedded_server(app, "127.0.0.1", port)
    served = asyncio.create_task(server.serve())
    await server.wait_started()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.post("/login", data={"username": "sam", "password": PASSWORD})
        cookie = f"line311_session={response.cookies['line311_session']}"
    await asyncio.to_thread(cookie_file.write_text, cookie)
    print(f"wallboard on http://127.0.0.1:{port}/, session cookie in {cookie_file}")
    traffic = asyncio.create_task(feed(hub))
    try:
        await served
    finally:
        traffic.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18411)
    parser.add_argument("--cookie-file", type=Path, required=True)
    parser.add_argument("--static", type=Path, help="serve the page from this directory")
    args = parser.parse_args()
    if args.static is not None:
        dashboard_api.STATIC_DIR = args.static  # type: ignore[misc]
        dashboard_app.STATIC_DIR = args.static  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as workdir, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.cookie_file, Path(workdir)))


if __name__ == "__main__":
    main()
