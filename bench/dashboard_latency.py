"""Dashboard update latency: from a change published to the live hub to its receipt by each
of 100 connected SSE clients (median, p99).

A real line311 HTTP app (uvicorn on an ephemeral loopback port, SQLite accounts, bearer
token) serves ``/api/live``; 100 clients hold raw HTTP connections open and note when each
snapshot id arrives. 60 changes are published one at a time (each a new call entering a
queue, 0.35 s apart so each is its own flush); latency = arrival - publish, over every
(client, change) pair. The clients run in the same process and loop as the server, so the
figure includes their parsing too (a browser would not share the server's CPU).

    python -m bench dashboard_latency
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench._viewers import open_live_feed
from line311.dashboard.actions import InMemoryActions
from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState, QueueConfigured
from line311.db import make_engine, upgrade
from line311.http_server import make_embedded_server
from line311.queue.events import CallEnqueued

CLIENTS = 100
CHANGES = 60
GAP = 0.35


async def _client(
    port: int, token: str, arrivals: dict[int, list[float]], ready: asyncio.Event
) -> None:
    reader, writer = await open_live_feed(port, token)
    seen: set[int] = set()
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"id: "):
                version = int(line[4:])
                if version not in seen:
                    seen.add(version)
                    arrivals.setdefault(version, []).append(time.perf_counter())
                ready.set()
    finally:
        writer.close()


async def _measure(tmp: Path) -> tuple[list[float], int]:
    url = f"sqlite:///{tmp / 'line311.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = AccountStore(engine)
    store.create("bench", "bench password", "operations")
    auth = Authenticator(store, "bench-secret-0123456789abcdef")
    token, _ = auth.bearer_token("bench")
    hub = LiveHub(LiveState(), max_clients=CLIENTS + 10)
    hub.publish(QueueConfigured("general"))
    app = create_app(lambda: {"ok": True}, hub=hub, auth=auth, actions=InMemoryActions(hub))
    server = make_embedded_server(app, "127.0.0.1", 0)
    serving = asyncio.create_task(server.serve())
    await server.wait_started()
    arrivals: dict[int, list[float]] = {}
    readies = [asyncio.Event() for _ in range(CLIENTS)]
    clients = [asyncio.create_task(_client(server.bound_port, token, arrivals, r)) for r in readies]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    await asyncio.sleep(1.0)
    published: dict[int, float] = {}
    for i in range(CHANGES):
        hub.publish(CallEnqueued(f"c{i}", "general", time.time()))
        published[hub.state.version] = time.perf_counter()
        await asyncio.sleep(GAP)
    await asyncio.sleep(1.0)
    latencies = [
        arrival - sent
        for version, sent in published.items()
        for arrival in arrivals.get(version, [])
    ]
    missing = CHANGES * CLIENTS - len(latencies)
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    server.should_exit = True
    await serving
    engine.dispose()
    return latencies, missing


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        latencies, missing = asyncio.run(_measure(Path(tmp)))
    latencies.sort()
    median = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    worst = latencies[-1] * 1000
    return "\n".join(
        [
            "## Dashboard update latency (`python -m bench dashboard_latency`)",
            "",
            f"{CLIENTS} SSE clients on `/api/live`, {CHANGES} changes published one at a time; "
            "latency from `LiveHub.publish` to the snapshot's arrival at each client "
            "(clients in the same process as the server). Coalescing window 200 ms.",
            "",
            "| clients | deliveries | missed | median | p99 | max | goal |",
            "|---:|---:|---:|---:|---:|---:|---|",
            f"| {CLIENTS} | {len(latencies)} | {missing} | {median:.1f} ms | {p99:.1f} ms "
            f"| {worst:.1f} ms | < 1000 ms |",
        ]
    )


if __name__ == "__main__":
    import sys

    sys.stdout.write(run() + "\n")
