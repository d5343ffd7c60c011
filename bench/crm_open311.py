"""Open311 ``GET requests`` with 1 million stored SRs on PostgreSQL: latency median and p99.

Set-up: a fresh database (see `bench.crm_intake.Bridge`), the seeded catalogue, then
``BENCH_SR_ROWS`` service requests bulk-loaded with ``COPY`` (real SR numbers, spread over
the last 90 days, five services, one in three closed), then ``ANALYZE``. As in production,
where an SR's row id (hence its number) and its ``requested_at`` are both taken when it is
filed, ids grow with ``requested_at``, so the newest SRs sit together on disk
(``BENCH_SR_SHUFFLED=1`` loads them in random order instead: the worst case for the heap,
about one page read per SR returned). Measured:
``BENCH_SEARCHES`` searches with the typical filters — none (the default 90-day window),
``service_code``, ``status``, a one-day ``start_date``/``end_date`` window, and their
combinations — each answering up to 1000 SRs as JSON, ``BENCH_SEARCH_CLIENTS`` at a time.
Goal: p99 < 100 ms.

    python -m bench crm_open311          (BENCH_SR_ROWS=100000 for a quicker run)
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import psycopg

from bench.crm_intake import Bridge, _q
from line311.call.srnumber import make_sr_number

SR_ROWS = int(os.environ.get("BENCH_SR_ROWS", "1000000"))
SEARCHES = int(os.environ.get("BENCH_SEARCHES", "600"))
CLIENTS = int(os.environ.get("BENCH_SEARCH_CLIENTS", "4"))
SHUFFLED = os.environ.get("BENCH_SR_SHUFFLED") == "1"
CODES = ["noise-residential", "illegal-parking", "heat-hot-water", "pothole", "rodents"]
AGENCIES = {"noise-residential": "NYPD", "illegal-parking": "NYPD", "heat-hot-water": "HPD"}


def _load_srs(dsn: str) -> float:
    started = time.monotonic()
    now = datetime.now(UTC)
    rng = random.Random(311)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY service_requests (id, sr_number, token, service_code, status,"
            " agency_responsible, requested_at, updated_at, channel, attributes, address)"
            " FROM STDIN"
        ) as copy:
            ages = [rng.uniform(0, 90 * 86400) for _ in range(SR_ROWS)]
            if not SHUFFLED:
                ages.sort(reverse=True)  # id 1 is the oldest, as when filed one by one
            for i, age in enumerate(ages, start=1):
                when = now - timedelta(seconds=age)
                code = CODES[i % len(CODES)]
                copy.write_row(
                    (
                        i,
                        make_sr_number(i),
                        f"t{i}",
                        code,
                        "open" if i % 3 else "closed",
                        AGENCIES.get(code, "DOT"),
                        when,
                        when,
                        "PHONE",
                        "{}",
                        f"{i} Broadway",
                    )
                )
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('service_requests', 'id'), %s)", (SR_ROWS,)
        )
        conn.commit()
        cur.execute("ANALYZE service_requests")
    return time.monotonic() - started


def _params(i: int, rng: random.Random, now: datetime) -> dict[str, str]:
    params: dict[str, str] = {}
    if i % 2:
        params["service_code"] = rng.choice(CODES)
    if i % 3 == 0:
        params["status"] = rng.choice(["open", "closed"])
    if i % 4 == 0:
        start = now - timedelta(days=rng.uniform(1, 80))
        params["start_date"] = start.isoformat()
        params["end_date"] = (start + timedelta(days=1)).isoformat()
    return params


async def _searches(url: str) -> tuple[list[float], int]:
    now = datetime.now(UTC)
    rng = random.Random(7)
    work = iter(range(SEARCHES))
    latencies: list[float] = []
    returned = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one_client() -> None:
            nonlocal returned
            for i in work:
                params = _params(i, rng, now)
                started = time.perf_counter()
                response = await client.get("/open311/v2/requests.json", params=params)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"search answered {response.status_code}")
                returned += len(orjson.loads(response.content))  # light on the shared CPUs

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    return latencies, returned


def run() -> str:
    load = os.getloadavg()
    with Bridge() as bridge:
        load_seconds = _load_srs(bridge.dsn)
        asyncio.run(_searches(bridge.url))  # warm-up: caches, plans
        search, returned = asyncio.run(_searches(bridge.url))
    load_after = os.getloadavg()
    ms = 1000.0
    layout = "random order on disk" if SHUFFLED else "ids in time order"
    return "\n".join(
        [
            "## Open311 search over 1M SRs on PostgreSQL (`python -m bench crm_open311`)",
            "",
            "| measure | value | goal |",
            "|---|---|---|",
            f"| `GET /open311/v2/requests.json` over {SR_ROWS:,} SRs ({layout}), {CLIENTS} "
            f"clients, median / p99 | {statistics.median(search) * ms:.1f} / "
            f"{_q(search, 0.99) * ms:.1f} ms | p99 < 100 ms |",
            f"| SRs per answer (mean, at most 1000) | {returned / len(search):,.0f} | |",
            f"| bulk load of {SR_ROWS:,} SRs (COPY) + ANALYZE | {load_seconds:.0f} s "
            "| a few minutes |",
            "",
            f"_Load average (1, 5, 15 min) before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} "
            "(2 cores; clients, bridge and PostgreSQL share them)._",
        ]
    )
