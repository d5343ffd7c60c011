"""Messages per call: what a process said to Asterisk and heard from it, and Redis's commands.

`ari_counts` reads a line311 process's ``/metrics`` (``line311_ari_events_total`` by type,
``line311_ari_requests_total`` by method and route, `line311.ari.traffic`); `redis_counts`
reads ``INFO commandstats``. Take both before and after a step and `per_call` divides the
difference by the calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["ari_counts", "per_call", "redis_counts", "table"]


def parse_ari(text: str) -> Counter[str]:
    """``event <type>`` and ``<METHOD> <route>`` counts from Prometheus text."""
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "line311_ari_events_total":
                out[f"event {sample.labels['type']}"] += int(sample.value)
            elif sample.name == "line311_ari_requests_total":
                out[f"{sample.labels['method']} {sample.labels['route']}"] += int(sample.value)
    return out


def ari_counts(metrics_url: str) -> Counter[str]:
    """The ARI traffic counted by the process serving ``metrics_url``."""
    return parse_ari(httpx.get(metrics_url, timeout=5.0).text)


def redis_counts(port: int, password: str) -> Counter[str]:
    """Calls per Redis command since the server started (``INFO commandstats``)."""
    client = redis.Redis(host="127.0.0.1", port=port, password=password or None)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


def per_call(before: Mapping[str, int], after: Mapping[str, int], calls: int) -> dict[str, float]:
    """What changed between ``before`` and ``after``, per call (nothing: empty)."""
    if calls <= 0:
        return {}
    keys = set(before) | set(after)
    out = {k: (after.get(k, 0) - before.get(k, 0)) / calls for k in keys}
    return {k: v for k, v in out.items() if v > 0}


def table(columns: Mapping[str, Mapping[str, float]], *, top: int = 25) -> str:
    """A markdown table: one row per message kind (the most frequent first, ``top`` of
    them, then a total), one column per stack or process."""
    totals: Counter[str] = Counter()
    for counts in columns.values():
        totals.update(counts)
    rows = [k for k, _ in totals.most_common(top)]
    head = "| message | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns) + "\n"
    body = "".join(
        f"| `{k}` | " + " | ".join(f"{c.get(k, 0):.2f}" for c in columns.values()) + " |\n"
        for k in rows
    )
    total = "| **total** | " + " | ".join(f"**{sum(c.values()):.1f}**" for c in columns.values())
    return head + body + total + " |"
