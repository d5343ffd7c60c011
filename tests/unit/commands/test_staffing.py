"""`line311 staffing ...` on the command line (no servers: the math is pure)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from line311.cli import app

runner = CliRunner()


def test_erlang_c_json_reproduces_the_reference_check_values() -> None:
    result = runner.invoke(
        app,
        [
            "staffing",
            "erlang-c",
            "--calls",
            "100",
            "--interval",
            "1800",
            "--aht",
            "180",
            "--threshold",
            "20",
            "--agents",
            "14",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    figures = doc["figures"]
    assert doc["model"] == "Erlang C"
    assert round(figures["p_wait"], 5) == 0.17413
    assert round(figures["service_level"], 5) == 0.88835
    assert round(figures["asa"], 2) == 7.84
    assert round(figures["occupancy"], 3) == 0.714
    assert [r["agents"] for r in doc["around"]] == [12, 13, 14, 15, 16, 17]


def test_erlang_c_table_names_the_agents_needed_for_80_30() -> None:
    result = runner.invoke(app, ["staffing", "erlang-c", "--calls", "100", "--aht", "180"])
    assert result.exit_code == 0, result.output
    assert "13 agents needed" in result.output
    assert "82.7%" in result.output


def test_erlang_a_needs_no_more_agents_than_erlang_c() -> None:
    result = runner.invoke(
        app,
        ["staffing", "erlang-a", "--calls", "100", "--aht", "180", "--patience", "120", "--json"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["agents_needed"] <= 13
    assert doc["figures"]["service_level"] >= 0.8
    table = runner.invoke(app, ["staffing", "erlang-a", "--patience", "60"])
    assert "abandoned" in table.output


def test_no_calls_need_no_agents_and_bad_options_are_refused() -> None:
    result = runner.invoke(app, ["staffing", "erlang-c", "--calls", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["agents_needed"] == 0
    assert runner.invoke(app, ["staffing", "erlang-c", "--goal", "1.5"]).exit_code == 2
