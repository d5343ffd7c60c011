"""Every metric of every line311 process, checked as an operations team reads them: made in
the catalogue modules only, listed in docs/dashboard.md with their type and labels, and used
by the Grafana dashboard with names and labels that exist, counters only through rate() or
increase() (they restart at 0 with their process)."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from line311.ari.traffic import AriTraffic, TrafficCollector
from line311.config import REPO_ROOT
from line311.crm_bridge.metrics import BridgeMetrics
from line311.crm_bridge.outbox import DeliveryReport
from line311.dashboard.live import LiveHub
from line311.dashboard.metrics import (
    DashboardMetrics,
    DeskLinkCollector,
    OrphanedAlertsCollector,
    WriteBacklogCollector,
)
from line311.dashboard.process_metrics import (
    WallboardProcessCollector,
    WorkerMetrics,
    ari_connected,
    controller_calls_in_workers,
    controller_live_state,
    controller_phones,
)
from line311.dashboard.state import CallEnteredIvr, CallLeftIvr, LiveState
from line311.db.outbox import OutboxBacklog
from line311.kamailio.edge_stats import EdgeCollector, EdgeCounters
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)

SRC = REPO_ROOT / "src" / "line311"
DOCS = REPO_ROOT / "docs"
CATALOGUE = {
    "dashboard/metrics.py",
    "dashboard/process_metrics.py",
    "ari/traffic.py",
    "kamailio/edge_stats.py",
    "crm_bridge/metrics.py",
}
"""The modules that make metrics (`line311.dashboard.process_metrics`)."""
MAKERS = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
T0 = 1_700_000_100.0
TARGET_LABELS = {"instance", "job"}
"""Labels Prometheus adds to every series of a scrape."""


def _metric_makers(tree: ast.Module) -> set[str]:
    """The names a module binds to prometheus_client's metric classes and families."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prometheus_client"):
            for alias in node.names:
                if alias.name in MAKERS or alias.name.endswith("MetricFamily"):
                    names.add(alias.asname or alias.name)
    return names


def test_given_the_source_then_metrics_are_made_in_the_catalogue_modules_only() -> None:
    makers_outside = []
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(SRC).as_posix()
        if where in CATALOGUE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        makers = _metric_makers(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in makers
            ):
                makers_outside.append(f"{where}:{node.lineno} {node.func.id}")
    assert makers_outside == []


# ---------------------------------------------------------------------- every process
@dataclass
class FakeDesk:
    """What `DeskLinkCollector` reads of a desk link."""

    queued: int = 0
    dropped: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"enqueue": 2})
    received: dict[str, int] = field(default_factory=lambda: {"cmd": 3})
    entries_written: int = 2
    reads: int = 1


@dataclass(frozen=True)
class Family:
    name: str
    """As exposed: a counter's with ``_total``."""
    type: str
    labels: frozenset[str]
    samples: dict[str, set[str]]
    """Each sample name (``_bucket``, ``_count``...) and its label names."""


async def processes() -> dict[str, CollectorRegistry]:
    """The registry of each process, made as `line311.bootstrap` makes them, with every
    optional part on (IVR workers, legs in the workers, Redis, several Asterisks, a
    dashboard process) and enough traffic for every labelled series to show."""
    controller = CollectorRegistry()
    hub = LiveHub(LiveState(), clock=lambda: T0 + 100)
    metrics = DashboardMetrics(controller, hub, outbox_backlog=lambda: 0)
    await metrics.read_backlog()
    for fact in (
        CallEnteredIvr("i1", T0),
        CallLeftIvr("i1", T0 + 5, resolved=True),
        AgentStateChanged("a1", AgentActivity.AVAILABLE, T0),
        CallEnqueued("c1", "general", T0),
        CallAnswered("c1", "general", T0 + 4, agent_id="a1"),
        CallCompleted("c1", "general", T0 + 60, talk_seconds=50),
        CallEnqueued("c2", "general", T0 + 1),
        CallAbandoned("c2", "general", T0 + 20),
        CallEnqueued("c3", "general", T0 + 2),
        CallTimedOut("c3", "general", T0 + 90),
        CallEnqueued("c4", "general", T0 + 3),
    ):
        hub.publish(fact)
    metrics.observe_ari_reaction("play", 0.004)
    traffic = AriTraffic()
    traffic.heard("StasisStart")
    traffic.sent("POST", "/channels/c1/answer")
    controller.register(TrafficCollector(traffic))
    controller.register(
        WriteBacklogCollector(
            unspooled=lambda: 0, dropped={"log": lambda: 0, "queue_log": lambda: 0}
        )
    )
    controller.register(DeskLinkCollector(FakeDesk()))
    controller.register(OrphanedAlertsCollector(lambda: [{"alert_id": "a1"}]))
    edge = EdgeCounters(cast(Any, None), node="10.0.0.11", peers=True)
    edge.values = {"line311_failovers": 2, "line311_late_answers": 1}
    edge.peers_seen = (1, 0)
    edge.answered = True
    controller.register(EdgeCollector(edge))
    controller_phones(controller, lambda online: 3 if online else 1)
    controller_calls_in_workers(controller, lambda: 2)
    controller_live_state(controller, lambda: True)
    ari_connected(controller, lambda: True)

    worker = CollectorRegistry()
    own = WorkerMetrics(worker)
    own.claimed.inc()
    own.handed.inc()
    own.observe_ari_reaction("play", 0.003)
    own.follow(active_calls=lambda: 4, queued_calls=lambda: 1)
    worker.register(TrafficCollector(traffic))
    worker.register(WriteBacklogCollector(unspooled=lambda: 0, dropped={"log": lambda: 0}))
    worker.register(DeskLinkCollector(FakeDesk()))
    ari_connected(worker, lambda: True)
    worker.register(OrphanedAlertsCollector(list))

    dashboard = CollectorRegistry()
    dashboard.register(
        WallboardProcessCollector(
            live_state_up=lambda: True,
            controller_up=lambda: True,
            facts_followed=lambda: 10,
            clients=lambda: 2,
        )
    )

    bridge = CollectorRegistry()
    own_bridge = BridgeMetrics(
        bridge,
        outbox=lambda: OutboxBacklog(pending=3, dead=1, oldest_pending_at=None),
        clock=lambda: T0,
    )
    await own_bridge.read_outbox()
    own_bridge.observe_request("GET", "/v1/sr/{sr_number}", 200, 0.01)
    own_bridge.observe_open311("requests", "json")
    own_bridge.received(["created", "duplicate"])
    own_bridge.delivered(DeliveryReport(claimed=3, delivered=1, retried=1, dead=1))
    return {
        "controller": controller,
        "ivr worker": worker,
        "dashboard": dashboard,
        "crm bridge": bridge,
    }


def exposed(registries: dict[str, CollectorRegistry]) -> dict[str, Family]:
    """Every family of every process, by its exposed name, as Prometheus parses the text."""
    out: dict[str, Family] = {}
    for registry in registries.values():
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            if family.name.endswith("_created"):
                continue  # prometheus_client's creation time of a Counter's or Histogram's
            samples: dict[str, set[str]] = {}
            for s in family.samples:
                samples.setdefault(s.name, set()).update(s.labels)
            assert samples, f"{family.name}: no sample to check (feed it in `processes`)"
            name = family.name + ("_total" if family.type == "counter" else "")
            labels = frozenset(set().union(*samples.values()) - {"le"})
            out[name] = Family(name, family.type, labels, samples)
    return out


# ---------------------------------------------------------------------- docs/dashboard.md
def documented() -> dict[str, tuple[str, frozenset[str]]]:
    """The metrics table of docs/dashboard.md: name -> (type, label names)."""
    text = (DOCS / "dashboard.md").read_text(encoding="utf-8")
    table = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, frozenset[str]]] = {}
    for line in table.splitlines():
        if not line.startswith("| `line311_"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        name, kind, labels = cells[0].strip("`"), cells[1], cells[2]
        labels = re.sub(r"\([^)]*\)", "", labels)  # "state (`registered`, ...)"
        names = {re.match(r"[a-z_]+", part.strip().strip("`")) for part in labels.split(",")}
        assert name not in rows, f"{name} twice in the table"
        rows[name] = (kind, frozenset(m.group(0) for m in names if m is not None))
    return rows


async def test_given_every_process_then_the_docs_table_lists_each_metric_with_its_type_and_labels() -> (
    None
):
    have = {f.name: (f.type, f.labels) for f in exposed(await processes()).values()}
    docs = documented()
    assert sorted(set(have) - set(docs)) == [], "exposed but not in docs/dashboard.md"
    assert sorted(set(docs) - set(have)) == [], "in docs/dashboard.md but not exposed"
    wrong = {n: (docs[n], have[n]) for n in have if docs[n] != have[n]}
    assert wrong == {}, "docs (type, labels) != exposed"


# ---------------------------------------------------------------------- Grafana
def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(_panels(panel.get("panels", [])))
    return out


def grafana() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((DOCS / "grafana" / "line311.json").read_text()))


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target)
        for panel in _panels(grafana()["panels"])
        for target in panel.get("targets", [])
    ]


SELECTOR = re.compile(r"\b(line311_[a-z0-9_]+)\s*(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
IN_RANGE = re.compile(r"\b(?:rate|irate|increase)\(\s*$")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def _family_of(sample: str, families: dict[str, Family]) -> Family | None:
    for family in families.values():
        if sample in family.samples:
            return family
    return None


def expr_problems(
    where: str, expr: str, families: dict[str, Family], legend: str = ""
) -> list[str]:
    """What is wrong in one PromQL expression against the exposed ``families``: a line311
    name or label that does not exist, a counter or histogram read without rate() or
    increase() (or a gauge with them), a grouping or ``legend`` label no metric there has.
    Used for the Grafana dashboard and the alerting rules (test_alert_rules.py)."""
    problems: list[str] = []
    used: set[str] = {"le"} | TARGET_LABELS
    for m in SELECTOR.finditer(expr):
        sample, braces = m.group(1), m.group(2) or ""
        family = _family_of(sample, families)
        if family is None:
            problems.append(f"{where}: {sample} is not exposed")
            continue
        labels = family.samples[sample] | TARGET_LABELS
        used |= labels
        for label in MATCHER.findall(braces):
            if label not in labels:
                problems.append(f"{where}: {sample} has no label {label}")
        before, in_range = expr[: m.start()], expr[m.end() :].lstrip().startswith("[")
        ranged = bool(IN_RANGE.search(before)) and in_range
        cumulative = family.type in ("counter", "histogram")
        if cumulative and not ranged:
            problems.append(f"{where}: {sample} is cumulative: rate() or increase() it")
        if not cumulative and ranged:
            problems.append(f"{where}: {sample} is a {family.type}: no rate() of it")
    for group in GROUPING.findall(expr):
        for label in (x.strip() for x in group.split(",") if x.strip()):
            if label not in used:
                problems.append(f"{where}: grouped by {label}, which no metric there has")
    for label in re.findall(r"\{\{\s*([a-zA-Z_]+)\s*\}\}", legend):
        if label not in used:
            problems.append(f"{where}: legend uses {label}, which no metric there has")
    return problems


async def test_given_the_grafana_dashboard_then_every_expr_uses_exposed_metrics_and_labels() -> (
    None
):
    families = exposed(await processes())
    problems: list[str] = []
    for title, target in targets():
        problems += expr_problems(title, target["expr"], families, target.get("legendFormat", ""))
    for variable in grafana()["templating"]["list"]:
        if variable.get("type") != "query":
            continue
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
        assert m is not None, variable["definition"]
        family = _family_of(m.group(1), families)
        if family is None or m.group(2) not in family.samples[m.group(1)]:
            problems.append(f"${variable['name']}: {variable['definition']} does not exist")
    assert problems == []


def test_given_line311_run_then_the_grafana_open_dashboards_count_the_dashboard_processs_feeds() -> (
    None
):
    # under `line311 run` the live feeds are the dashboard process's
    # (line311_wallboard_clients); the controller's line311_dashboard_clients stays 0
    exprs = [t["expr"] for title, t in targets() if "dashboards" in title.lower()]
    opened = [e for e in exprs if "clients" in e]
    assert opened
    assert all("line311_wallboard_clients" in e for e in opened), opened


async def test_given_the_dashboard_process_then_its_own_names_never_clash_with_the_controllers() -> (
    None
):
    # its /metrics is the controller's text followed by its own: a name in both would be one
    # family twice in a scrape (invalid exposition; series with the same labels collide)
    registries = await processes()
    controller = set(exposed({"controller": registries["controller"]}))
    dashboard = set(exposed({"dashboard": registries["dashboard"]}))
    assert dashboard
    assert controller & dashboard == set()


async def test_given_the_crm_bridge_then_its_names_are_its_own() -> None:
    # scraped as a target of its own: a name it shared with another process would add the
    # two processes' figures in every sum of the Grafana dashboard
    registries = await processes()
    bridge = set(exposed({"crm bridge": registries.pop("crm bridge")}))
    others = set(exposed(registries))
    assert bridge
    assert bridge & others == set()
    assert all(name.startswith("line311_crm_") for name in bridge), sorted(bridge)


async def test_given_every_process_then_names_units_and_labels_follow_prometheus_conventions() -> (
    None
):
    problems = []
    for registry in (await processes()).values():
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            name = family.name
            if name.endswith("_created"):
                continue
            if not re.fullmatch(r"line311_[a-z][a-z0-9_]*", name):
                problems.append(f"{name}: not line311_snake_case")
            if not family.documentation.strip():
                problems.append(f"{name}: no HELP")
            if family.type == "gauge" and name.endswith(("_total", "_count", "_sum", "_bucket")):
                problems.append(f"{name}: a gauge named like a counter or histogram part")
            if re.search(r"_(ms|millis|milliseconds|minutes|hours|percent)(_|$)", name):
                problems.append(f"{name}: not in base units (seconds, ratios)")
            for s in family.samples:
                for label in s.labels:
                    if not re.fullmatch(r"[a-z][a-z0-9_]*", label):
                        problems.append(f"{name}: label {label} not snake_case")
                if name.endswith("_ratio") and not 0.0 <= s.value <= 1.0:
                    problems.append(f"{name}: {s.value} is not a ratio in [0, 1]")
    assert problems == []
