"""CRM bridge throughput: call-record intake, and Open311 ``GET requests`` over many SRs.

The bridge runs as its own process (uvicorn, one worker) on a fresh PostgreSQL database
(``line311_bench_<random>`` on 127.0.0.1:5432, dropped afterwards); the load generator is an
asyncio httpx client in this process with ``CONCURRENCY`` requests in flight.

1. Intake: ``INTAKE_SECONDS`` of ``POST /v1/calls`` with distinct records → records/s and
   latency median / p99 (goal: >= 1,000 records/s, p99 < 50 ms).
2. Open311: ``SR_ROWS`` service requests bulk-loaded spread over 90 days, then
   ``SEARCHES`` ``GET /open311/v2/requests.json`` with typical filters → p99 (goal < 100 ms).

    python -m bench crm_intake          (BENCH_SR_ROWS=100000 for a quicker run)
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
SR_ROWS = int(os.environ.get("BENCH_SR_ROWS", "1000000"))
SEARCHES = int(os.environ.get("BENCH_SEARCHES", "500"))
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


async def _intake(url: str) -> tuple[int, list[float]]:
    latencies: list[float] = []
    t0 = datetime.now(UTC)
    counter = iter(range(10**9))
    deadline = time.monotonic() + INTAKE_SECONDS
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


def _load_srs(dsn: str) -> None:
    now = datetime.now(UTC)
    codes = ["noise-residential", "illegal-parking", "heat-hot-water", "pothole", "rodents"]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY service_requests (sr_number, token, service_code, status, agency_responsible,"
            " requested_at, updated_at, channel, attributes, address) FROM STDIN"
        ) as copy:
            for i in range(1, SR_ROWS + 1):
                when = now - timedelta(seconds=random.uniform(0, 90 * 86400))
                copy.write_row(
                    (
                        f"b{i}",
                        f"t{i}",
                        random.choice(codes),
                        "open" if i % 3 else "closed",
                        "NYPD",
                        when,
                        when,
                        "PHONE",
                        "{}",
                        f"{i} Broadway",
                    )
                )
        cur.execute("ANALYZE service_requests")


async def _searches(url: str) -> list[float]:
    now = datetime.now(UTC)
    latencies = []
    async with httpx.AsyncClient(base_url=url) as client:
        for i in range(SEARCHES):
            params: dict[str, str] = {}
            if i % 2:
                params["service_code"] = "pothole"
            if i % 3 == 0:
                params["status"] = "open"
            if i % 4 == 0:
                start = now - timedelta(days=random.uniform(1, 80))
                params["start_date"] = start.isoformat()
                params["end_date"] = (start + timedelta(days=1)).isoformat()
            started = time.perf_counter()
            response = await client.get("/open311/v2/requests.json", params=params)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"search answered {response.status_code}")
    return latencies


def run() -> str:
    name = f"line311_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    url_sa = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    proc = None
    try:
        upgrade(url_sa)
        port = _free_port()
        env = dict(
            os.environ,
            LINE311_DATABASE_URL=url_sa,
            LINE311_CRM_PORT=str(port),
            LINE311_CRM_API_KEY=API_KEY,
            LINE311_STATE_DIR=tempfile.mkdtemp(prefix="line311-bench-"),
            LINE311_LOG_LEVEL="WARNING",
        )
        code = (
            "from line311.config import load_settings\n"
            "from line311.crm_bridge.server import run\n"
            "run(load_settings())\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], env=env)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the bridge did not come up")
        count, lat = asyncio.run(_intake(url))
        rate = count / INTAKE_SECONDS
        _load_srs(dsn)
        search = asyncio.run(_searches(url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    ms = 1000.0
    return "\n".join(
        [
            "## CRM bridge on PostgreSQL (`python -m bench crm_intake`)",
            "",
            "| measure | value | goal |",
            "|---|---|---|",
            f"| call-record intake, {CONCURRENCY} in flight, {INTAKE_SECONDS:.0f} s "
            f"| {rate:,.0f} records/s | >= 1,000 records/s |",
            f"| intake latency median / p99 | {statistics.median(lat) * ms:.1f} / "
            f"{_q(lat, 0.99) * ms:.1f} ms | p99 < 50 ms |",
            f"| Open311 GET requests over {SR_ROWS:,} SRs, median / p99 "
            f"| {statistics.median(search) * ms:.1f} / {_q(search, 0.99) * ms:.1f} ms "
            "| p99 < 100 ms |",
        ]
    )
