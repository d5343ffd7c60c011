"""CRM bridge call-record intake on PostgreSQL: records/s and latency (median, p99).

The bridge runs as its own process (uvicorn, one worker) on a fresh PostgreSQL database
(``line311_bench_<random>`` on 127.0.0.1:5432, dropped afterwards). The load generator runs
in this process: ``BENCH_CONCURRENCY`` keep-alive HTTP/1.1 connections, each with one request
in flight, posting distinct records for ``BENCH_INTAKE_SECONDS`` (after a short warm-up). It
writes requests and reads responses on raw asyncio streams, because the machine has two
cores shared by the bridge, PostgreSQL and the generator, and a general HTTP client (httpx
spends about 1.5 ms of CPU per request) would measure itself rather than the bridge.
Latency runs from writing a request to reading the whole response.

Two paths are measured, labelled as such:

- ``POST /v1/calls``: one record per request, the controller's path. Goal: >= 1,000
  records/s sustained, p99 < 50 ms.
- ``POST /v1/calls/batch``: ``BENCH_BATCH`` records per request, one transaction each.

Forwarding (the outbox) is off unless ``BENCH_FORWARD=1``, which also writes each record's
outbox row in the same transaction.

    python -m bench crm_intake

`bench.crm_open311` reuses the database and bridge helpers below.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg import sql

from line311.db import upgrade

PG_ADMIN = os.environ.get("LINE311_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
INTAKE_SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "20"))
BATCH = int(os.environ.get("BENCH_BATCH", "100"))
BATCH_SECONDS = float(os.environ.get("BENCH_BATCH_SECONDS", "10"))
API_KEY = "bench-" + secrets.token_urlsafe(12)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _record(i: int, t0: datetime) -> dict[str, Any]:
    start = t0 + timedelta(milliseconds=i)
    return {
        "call_id": f"bench.{i}",
        "dialed_number": "311",
        "caller_hash": secrets.token_hex(16),
        "started_at": start.isoformat(),
        "answered_at": (start + timedelta(seconds=2)).isoformat(),
        "ended_at": (start + timedelta(seconds=95)).isoformat(),
        "outcome": random.choice(["self_served", "referred", "handled", "abandoned"]),
        "language": random.choice(["en", "es", "zh", "ru"]),
        "queue": random.choice(["housing", "noise", "general", None]),
        "agent_id": None,
        "path": ["greeting", "menu:main", f"dtmf:{i % 9}"],
    }


class _Connection:
    """One keep-alive HTTP/1.1 connection to the bridge: POST a JSON body, read the answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> _Connection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _intake(
    url: str, *, seconds: float, offset: int, batch: int = 0
) -> tuple[int, list[float]]:
    """Post records for ``seconds``: one per ``POST /v1/calls``, or ``batch`` per
    ``POST /v1/calls/batch``. Returns the records stored and each request's latency."""
    latencies: list[float] = []
    t0 = datetime.now(UTC)
    counter = iter(range(offset, offset + 10**9))
    deadline = time.monotonic() + seconds
    stored = 0
    path = "/v1/calls/batch" if batch else "/v1/calls"

    async def worker() -> None:
        nonlocal stored
        conn = await _Connection.open(url)
        try:
            while time.monotonic() < deadline:
                if batch:
                    records = [_record(next(counter), t0) for _ in range(batch)]
                    body = json.dumps({"records": records}).encode()
                else:
                    body = json.dumps(_record(next(counter), t0)).encode()
                started = time.perf_counter()
                status, answer = await conn.post(path, body)
                latencies.append(time.perf_counter() - started)
                if status != (200 if batch else 201):
                    raise RuntimeError(f"intake answered {status}: {answer[:200]!r}")
                if batch and json.loads(answer)["created"] != batch:
                    raise RuntimeError(f"batch intake stored fewer than {batch}: {answer[:200]!r}")
                stored += batch or 1
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return stored, latencies


class Bridge:
    """A throw-away PostgreSQL database, migrated, and the bridge serving it in a subprocess."""

    def __init__(self, **env: str) -> None:
        self.name = f"line311_bench_{secrets.token_hex(4)}"
        self.dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name
        self.url = ""
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Bridge:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        try:
            upgrade(self.dsn.replace("postgresql://", "postgresql+psycopg://", 1))
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start(self) -> None:
        port = _free_port()
        env = dict(
            os.environ,
            LINE311_DATABASE_URL=self.dsn.replace("postgresql://", "postgresql+psycopg://", 1),
            LINE311_CRM_PORT=str(port),
            LINE311_CRM_API_KEY=API_KEY,
            LINE311_STATE_DIR=tempfile.mkdtemp(prefix="line311-bench-"),
            LINE311_LOG_LEVEL="WARNING",
            **self._env,
        )
        code = (
            "from line311.config import load_settings\n"
            "from line311.crm_bridge.server import run\n"
            "run(load_settings())\n"
        )
        self._proc = subprocess.Popen([sys.executable, "-c", code], env=env)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(400):
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the bridge did not come up")

    def __exit__(self, *_exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


def run() -> str:
    forward = os.environ.get("BENCH_FORWARD") == "1"
    env = {}
    if forward:  # an unreachable receiver: the worker retries, the outbox grows
        env = {
            "LINE311_CRM_WEBHOOK_URL": f"http://127.0.0.1:{_free_port()}/hook",
            "LINE311_CRM_WEBHOOK_SECRET": secrets.token_urlsafe(16),
        }
    load = os.getloadavg()
    with Bridge(**env) as bridge:
        asyncio.run(_intake(bridge.url, seconds=2.0, offset=10**8))  # warm-up
        count, lat = asyncio.run(_intake(bridge.url, seconds=INTAKE_SECONDS, offset=0))
        batch_count, batch_lat = asyncio.run(
            _intake(bridge.url, seconds=BATCH_SECONDS, offset=5 * 10**8, batch=BATCH)
        )
    load_after = os.getloadavg()
    ms = 1000.0
    outbox = ", outbox on" if forward else ""
    return "\n".join(
        [
            "## CRM bridge intake on PostgreSQL (`python -m bench crm_intake`)",
            "",
            "| measure | value | goal |",
            "|---|---|---|",
            f"| `POST /v1/calls` (one record per request), {CONCURRENCY} in flight, "
            f"{INTAKE_SECONDS:.0f} s{outbox} | {count / INTAKE_SECONDS:,.0f} records/s "
            "| >= 1,000 records/s |",
            f"| `POST /v1/calls` latency median / p99 | {statistics.median(lat) * ms:.1f} / "
            f"{_q(lat, 0.99) * ms:.1f} ms | p99 < 50 ms |",
            f"| `POST /v1/calls/batch` ({BATCH} records per request), {CONCURRENCY} in flight, "
            f"{BATCH_SECONDS:.0f} s{outbox} | {batch_count / BATCH_SECONDS:,.0f} records/s | |",
            f"| `POST /v1/calls/batch` latency per request median / p99 | "
            f"{statistics.median(batch_lat) * ms:.1f} / {_q(batch_lat, 0.99) * ms:.1f} ms | |",
            "",
            f"_Load average (1, 5, 15 min) before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} "
            "(2 cores; the load generator, the bridge and PostgreSQL share them)._",
        ]
    )
