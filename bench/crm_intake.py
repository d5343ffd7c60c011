"""CRM bridge call-record intake on PostgreSQL: records/s and latency (median, p99).

The bridge runs as its own process (uvicorn, one worker) on a fresh PostgreSQL database
(``line311_bench_<random>`` on 127.0.0.1:5432, dropped afterwards); the load generator is an
asyncio httpx client in this process with ``BENCH_CONCURRENCY`` requests in flight, posting
distinct records to ``POST /v1/calls`` for ``BENCH_INTAKE_SECONDS`` (after a short warm-up).
Goal: >= 1,000 records/s sustained, p99 < 50 ms. Forwarding (the outbox) is off unless
``BENCH_FORWARD=1``, which also writes each record's outbox row in the same transaction.

    python -m bench crm_intake

`bench.crm_open311` reuses the database and bridge helpers below.
"""

from __future__ import annotations

import asyncio
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
        "outcome": random.choice(["information", "transferred", "sr_filed", "abandoned"]),
        "language": random.choice(["en", "es", "zh", "ru"]),
        "queue": random.choice(["housing", "noise", "general", None]),
        "agent_id": None,
        "path": ["greeting", "menu:main", f"dtmf:{i % 9}"],
    }


async def _intake(url: str, *, seconds: float, offset: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    t0 = datetime.now(UTC)
    counter = iter(range(offset, offset + 10**8))
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {API_KEY}"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                body = _record(next(counter), t0)
                started = time.perf_counter()
                response = await client.post("/v1/calls", json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"intake answered {response.status_code}")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(latencies), latencies


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
    with Bridge(**env) as bridge:
        asyncio.run(_intake(bridge.url, seconds=2.0, offset=10**8))  # warm-up
        count, lat = asyncio.run(_intake(bridge.url, seconds=INTAKE_SECONDS, offset=0))
    rate = count / INTAKE_SECONDS
    ms = 1000.0
    return "\n".join(
        [
            "## CRM bridge intake on PostgreSQL (`python -m bench crm_intake`)",
            "",
            "| measure | value | goal |",
            "|---|---|---|",
            f"| call-record intake, {CONCURRENCY} in flight, {INTAKE_SECONDS:.0f} s"
            f"{', outbox on' if forward else ''} | {rate:,.0f} records/s | >= 1,000 records/s |",
            f"| intake latency median / p99 | {statistics.median(lat) * ms:.1f} / "
            f"{_q(lat, 0.99) * ms:.1f} ms | p99 < 50 ms |",
        ]
    )
