"""`line311 report queue-log`: a queue_log file measured over a day, as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from line311.cli import app

LOG = """\
1700053200|c1|general|NONE|ENTERQUEUE||h:1|1
1700053210|c1|general|PJSIP/ccr7|CONNECT|10|x|2
1700053400|c1|general|NONE|COMPLETECALLER|10|190|1
1700053300|c2|general|NONE|ENTERQUEUE||h:2|1
1700053302|c2|general|NONE|ABANDON|1|1|2
1700055000|c3|general|NONE|ENTERQUEUE||h:3|1
1700055060|c3|general|PJSIP/ccr7|CONNECT|60|x|2
1700055200|c3|general|NONE|COMPLETEAGENT|60|140|1
"""


def test_given_a_queue_log_when_reporting_a_day_then_totals_match_the_log(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(LOG)
    result = CliRunner().invoke(
        app, ["report", "queue-log", str(path), "--from", "2023-11-15", "--interval", "0", "--csv"]
    )
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.output))
    assert row["interval_start"] == "2023-11-15T00:00:00-05:00"
    assert (row["offered"], row["answered"], row["short_abandons"]) == ("3", "2", "1")
    assert row["service_level"] == "0.5"  # 1 of 2 answered within 30 s; the short abandon is out
    assert row["asa_seconds"] == "35"


def test_the_table_lists_intervals_with_calls(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(LOG)
    result = CliRunner().invoke(
        app,
        ["report", "queue-log", str(path), "--from", "2023-11-15", "--tz", "UTC"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "2023-11-15 13:00" in result.output
    assert "total" in result.output


def test_bad_options_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(LOG)
    runner = CliRunner()
    args = ["report", "queue-log", str(path), "--from", "2023-11-15"]
    assert runner.invoke(app, [*args, "--tz", "Mars/Olympus"]).exit_code == 2
    assert runner.invoke(app, [*args, "--to", "2023-11-14"]).exit_code == 2


def test_at_any_width_the_table_prints_every_header_whole_and_times_with_their_offset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue_log"
    path.write_text(LOG)
    headers = ["queue", "from (America/New_York)", "offered", "answered", "≤T", "T s"]
    headers += ["abandoned", "short", "SL", "goal", "ASA s", "AHT s", "longest s"]
    for columns in ("60", "200"):
        result = CliRunner().invoke(
            app,
            ["report", "queue-log", str(path), "--from", "2023-11-15"],
            env={"COLUMNS": columns},
        )
        assert result.exit_code == 0, result.output
        assert max(len(line) for line in result.output.splitlines()) <= int(columns)
        for header in headers:
            assert header in result.output, (columns, header)
        assert "…" not in result.output
        assert "2023-11-15 08:00-05:00" in result.output  # 13:00 UTC, with its offset
