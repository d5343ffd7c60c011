"""`line311 simulate` on the command line (pure simulation: no servers)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from line311.cli import app

runner = CliRunner()


def test_json_summary_has_the_day_the_prediction_and_every_interval(tmp_path: Path) -> None:
    out = tmp_path / "day.csv"
    args = ["--calls", "400", "--agents", "6", "--seed", "3", "--interval", "15"]
    result = runner.invoke(app, ["simulate", *args, "--csv", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    day = doc["day"]
    assert day["offered"] == 400
    assert day["answered"] + day["abandoned"] + day["timed_out"] + day["waiting_at_end"] == 400
    assert 0 <= day["service_level"] <= 1
    assert doc["inputs"]["agents"] == 6
    assert len(doc["intervals"]) == 96
    assert doc["prediction"]["erlang_a_sl"] is not None
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 96
    assert rows[0]["interval_start"] == "00:00"
    assert sum(int(r["offered"]) for r in rows) == 400


def test_the_table_names_the_worst_intervals_and_erlang() -> None:
    result = runner.invoke(app, ["simulate", "--calls", "300", "--day", "record"])
    assert result.exit_code == 0, result.output
    assert "Worst" in result.output
    assert "Erlang C" in result.output


def test_bad_agents_value_is_refused() -> None:
    result = runner.invoke(app, ["simulate", "--calls", "10", "--agents", "many"])
    assert result.exit_code == 2


def test_an_aht_below_the_wrap_up_is_a_clear_error() -> None:
    result = runner.invoke(app, ["simulate", "--calls", "10", "--aht", "20"])
    assert result.exit_code == 2
    assert "wrap-up" in result.output
