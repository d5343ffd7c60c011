"""`line311 serve`: the controller, or with ``--worker K`` IVR worker K (nothing is run here:
the entry points are replaced)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from line311 import bootstrap, cli
from line311.cli import app
from line311.config import load_settings
from line311.errors import ConfigError

SETTINGS = object()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(cli, "settings_from", lambda ctx: SETTINGS)
    monkeypatch.setattr(bootstrap, "run_controller", lambda s: calls.append(("controller", s)))
    monkeypatch.setattr(bootstrap, "run_ivr_worker", lambda s, k: calls.append(("worker", s, k)))
    return calls


@pytest.mark.parametrize("argv", [["serve"], ["serve", "--worker", "0"]])
def test_given_serve_without_a_worker_number_then_the_controller_runs(
    started: list[tuple[Any, ...]], argv: list[str]
) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert started == [("controller", SETTINGS)]


@pytest.mark.parametrize("k", [1, 2, 16])
def test_given_serve_with_a_worker_number_then_that_ivr_worker_runs(
    started: list[tuple[Any, ...]], k: int
) -> None:
    result = CliRunner().invoke(app, ["serve", "--worker", str(k)])
    assert result.exit_code == 0, result.output
    assert started == [("worker", SETTINGS, k)]


@pytest.mark.parametrize("k", ["-1", "17", "one"])
def test_given_a_worker_number_out_of_range_then_usage_error_and_nothing_runs(
    started: list[tuple[Any, ...]], k: str
) -> None:
    result = CliRunner().invoke(app, ["serve", "--worker", k])
    assert result.exit_code == 2
    assert started == []


def test_given_dashboard_then_the_dashboard_process_runs(
    started: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap, "run_dashboard", lambda s: started.append(("dashboard", s)))
    result = CliRunner().invoke(app, ["dashboard"])
    assert result.exit_code == 0, result.output
    assert started == [("dashboard", SETTINGS)]


async def test_given_the_dashboard_without_dashboard_process_then_a_config_error_naming_it(
    tmp_path: Path,
) -> None:
    # else the controller (on http_port then) and the dashboard would share that port
    with pytest.raises(ConfigError, match="LINE311_DASHBOARD_PROCESS"):
        await bootstrap.dashboard_part(load_settings(state_dir=tmp_path), asyncio.Event())
