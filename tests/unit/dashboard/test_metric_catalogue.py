"""Every metric of every line311 process, checked as an operations team reads them: made in
the catalogue modules only, listed in docs/dashboard.md with their type and labels, and used
by the Grafana dashboard with names and labels that exist."""

from __future__ import annotations

import ast

from line311.config import REPO_ROOT

SRC = REPO_ROOT / "src" / "line311"
CATALOGUE = {
    "dashboard/metrics.py",
    "dashboard/process_metrics.py",
    "ari/traffic.py",
    "kamailio/edge_stats.py",
}
"""The modules that make metrics (`line311.dashboard.process_metrics`)."""
MAKERS = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}


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
