"""Messages per call: what a process said to Asterisk and heard from it, and Redis's commands.

`ari_counts` reads a line311 process's ``/metrics`` (``line311_ari_events_total`` by type,
``line311_ari_requests_total`` by method and route, `line311.ari.traffic`); `redis_counts`
reads ``INFO commandstats``. Take both before and after a step and `per_call` divides the
difference by the calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from bench._stack import BenchStack

__all__ = ["ari_counts", "per_call", "redis_counts", "stack_traffic", "table", "tables"]


DESK = "desk "
"""The prefix of the desk link's counts (``desk sent cmd``, ``desk entries read``)."""


def parse_ari(text: str) -> Counter[str]:
    """``event <type>`` and ``<METHOD> <route>`` counts from Prometheus text, and the desk
    link's (`DESK` ``<direction> <kind>``, `DESK` ``entries <written|read>``)."""
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "line311_ari_events_total":
                out[f"event {sample.labels['type']}"] += int(sample.value)
            elif sample.name == "line311_ari_requests_total":
                out[f"{sample.labels['method']} {sample.labels['route']}"] += int(sample.value)
            elif sample.name == "line311_desk_messages_total":
                out[f"{DESK}{sample.labels['direction']} {sample.labels['kind']}"] += int(
                    sample.value
                )
            elif sample.name == "line311_desk_link_entries_total":
                out[f"{DESK}entries {sample.labels['direction']}"] += int(sample.value)
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


def stack_traffic(lab: BenchStack) -> dict[str, Counter[str]]:
    """The ARI traffic of a bench stack's controller and each IVR worker, and its Redis's
    commands, so far (``<process> ARI`` and ``Redis commands``)."""
    out = {"controller ARI": ari_counts(f"http://127.0.0.1:{lab.stack.http_port}/metrics")}
    for k, port in enumerate(lab.worker_ports, start=1):
        out[f"ivr-worker-{k} ARI"] = ari_counts(f"http://127.0.0.1:{port}/metrics")
    if lab.redis is not None:
        out["Redis commands"] = redis_counts(lab.redis.port, lab.redis.password)
    return out


def tables(traffic: Mapping[str, Mapping[str, Mapping[str, float]]], what: str) -> str:
    """Messages per ``what`` (e.g. "queued call"): each stack's ARI traffic by process (one
    column per stack and process), then its Redis commands; ``traffic`` is per stack label,
    as `stack_traffic` names the sides, already divided by the calls (`per_call`)."""
    ari: dict[str, dict[str, float]] = {}
    desk: dict[str, dict[str, float]] = {}
    for label, sides in traffic.items():
        for side, counts in sides.items():
            if side.endswith(" ARI"):
                name = f"{label} {side.removesuffix(' ARI')}".strip()
                ari[name] = {k: v for k, v in counts.items() if not k.startswith(DESK)}
                desk[name] = {k[len(DESK) :]: v for k, v in counts.items() if k.startswith(DESK)}
    redis_ = {label or "Redis": sides.get("Redis commands", {}) for label, sides in traffic.items()}
    out = (
        f"### Messages per {what}\n\n"
        f"ARI events heard and REST requests sent per {what}, by process "
        "(`line311_ari_events_total`, `line311_ari_requests_total` from each process's "
        "`/metrics`, over all the stack's steps):\n\n" + table(ari) + "\n\n"
    )
    if any(desk.values()):
        out += (
            f"Desk link messages per {what}, by process (`line311_desk_messages_total` by "
            "direction and kind; `entries`: stream entries written, and reads that brought "
            "some, `line311_desk_link_entries_total`):\n\n"
            + table({k: v for k, v in desk.items() if v})
            + "\n\n"
        )
    if any(redis_.values()):
        out += (
            f"Redis commands per {what} (`INFO commandstats`, every client):\n\n"
            + table(redis_)
            + "\n\n"
        )
    return out
