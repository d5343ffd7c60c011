"""Wallboard viewers for a benchmark: N open ``/api/live`` feeds, like N browsers on the
dashboard, in a thread of the bench's own (their parsing is not line311's CPU).

    with viewers(http_port, token, 100) as seen:
        ...              # the stack serves 100 live feeds meanwhile
    seen.snapshots       # snapshots received, all feeds together
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Seen:
    snapshots: int = 0
    connected: int = 0


async def open_live_feed(
    port: int, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw HTTP connection asking ``/api/live`` on ``port`` (the caller reads and closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "GET /api/live HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    return reader, writer


async def _feed(port: int, token: str, seen: Seen, stop: asyncio.Event) -> None:
    reader, writer = await open_live_feed(port, token)
    seen.connected += 1
    try:
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"event: snapshot"):
                seen.snapshots += 1
    finally:
        writer.close()


@contextlib.contextmanager
def viewers(port: int, token: str, count: int) -> Iterator[Seen]:
    """``count`` live feeds on ``port`` while the block runs (none when 0)."""
    seen = Seen()
    if count <= 0:
        yield seen
        return
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    async def main() -> None:
        tasks = [asyncio.create_task(_feed(port, token, seen, stop)) for _ in range(count)]
        ready.set()
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield seen
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
