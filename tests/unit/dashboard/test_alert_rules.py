"""The shipped Prometheus alerting rules (docs/prometheus/line311-alerts.yml), checked as the
Grafana dashboard is (test_metric_catalogue.py): every metric name and label they read is one
a line311 process exposes (Prometheus's own ``up`` aside), counters only through rate() or
increase(); every rule says how bad it is and what to do. With promtool installed (Debian's
``prometheus``) the file is also checked and its unit tests run; without it they skip."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from line311.config import REPO_ROOT
from line311.yaml_doc import safe_load
from tests.unit.dashboard.test_metric_catalogue import exposed, expr_problems, processes

RULES_DIR = REPO_ROOT / "docs" / "prometheus"
RULES = RULES_DIR / "line311-alerts.yml"
RULE_TESTS = RULES_DIR / "line311-alerts.test.yml"
SEVERITIES = {"critical", "warning", "info"}
PROMETHEUS_METRICS = {"up"}
"""Series Prometheus writes itself for every target."""
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def rules() -> list[dict[str, Any]]:
    document = cast(dict[str, Any], safe_load(RULES.read_text(encoding="utf-8")))
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: what is left once strings, label matchers,
    ranges, groupings, functions, keywords and numbers are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?!\w)(\s*\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_given_the_metric_name_reader_then_it_finds_the_names_and_nothing_else() -> None:
    expr = (
        'sum by (queue) (increase(line311_queue_calls_ended_total{outcome="a b"}[15m]))'
        ' / on (queue) group_left line311_goal > bool 0.2 and up{job="x"} == 0'
        " unless histogram_quantile(0.99, rate(other_seconds_bucket[5m])) > 1e3"
    )
    assert metric_names(expr) == {
        "line311_queue_calls_ended_total",
        "line311_goal",
        "up",
        "other_seconds_bucket",
    }


def test_given_the_rules_then_each_has_a_unique_name_severity_duration_and_words() -> None:
    problems = []
    names = [rule.get("alert") for rule in rules()]
    assert len(names) >= 20
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"{name}: twice")
    for rule in rules():
        name = rule.get("alert")
        if not (isinstance(name, str) and re.fullmatch(r"Line311[A-Z][A-Za-z0-9]+", name)):
            problems.append(f"{name}: not Line311CamelCase")
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity not one of {sorted(SEVERITIES)}")
        if "for" in rule and not DURATION.fullmatch(str(rule["for"])):
            problems.append(f"{name}: for {rule['for']!r} is not a duration")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: no {key}")
    assert problems == []


async def test_given_the_rules_then_every_metric_and_label_they_read_is_exposed() -> None:
    families = exposed(await processes())
    problems = []
    for rule in rules():
        name, expr = rule["alert"], rule["expr"]
        problems += expr_problems(name, expr, families)
        for metric in metric_names(expr):
            if not metric.startswith("line311_") and metric not in PROMETHEUS_METRICS:
                problems.append(f"{name}: {metric} is neither line311's nor Prometheus's")
    assert problems == []


async def test_given_the_rules_then_every_process_has_a_down_alert_and_the_bridge_its_own() -> None:
    exprs = " ".join(rule["expr"] for rule in rules())
    for job in ("line311", "line311-ivr-workers", "line311-crm-bridge"):
        assert f'up{{job="{job}"}} == 0' in exprs, job
    read = {m for rule in rules() for m in metric_names(rule["expr"])}
    for metric in (
        "line311_wallboard_controller_up",
        "line311_ari_connected",
        "line311_live_state_up",
        "line311_crm_outbox_records",
        "line311_crm_outbox_oldest_pending_age_seconds",
        "line311_edge_failovers_total",
        "line311_queue_service_level_projected_ratio",
        "line311_ccr_agents",
    ):
        assert metric in read, metric


def test_given_the_scrape_config_in_the_docs_then_the_rules_jobs_are_its_jobs() -> None:
    # the `up{job=...}` rules only fire for the job names the documented scrape config uses
    docs = (REPO_ROOT / "docs" / "dashboard.md").read_text(encoding="utf-8")
    jobs = set(re.findall(r"job_name:\s*([\w-]+)", docs))
    used = {j for rule in rules() for j in re.findall(r'up\{job="([\w-]+)"\}', rule["expr"])}
    assert used
    assert used <= jobs, (used, jobs)


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)")
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "args", [("check", "rules", RULES.name), ("test", "rules", RULE_TESTS.name)], ids=str
)
def test_given_promtool_then_the_rules_check_and_their_unit_tests_pass(
    args: tuple[str, ...],
) -> None:
    done = subprocess.run(
        [cast(str, PROMTOOL), *args],
        cwd=Path(RULES_DIR),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_given_the_operations_guide_then_it_names_every_alert() -> None:
    guide = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [rule["alert"] for rule in rules() if f"`{rule['alert']}`" not in guide]
    assert missing == []
