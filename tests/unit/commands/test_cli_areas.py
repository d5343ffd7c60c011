"""The root command line mounts each area's sub-app when it is run (`line311.cli.AREAS`)."""

from __future__ import annotations

import importlib
import subprocess
import sys

from typer.testing import CliRunner

from line311.cli import AREAS, app


def test_given_the_root_help_then_every_area_is_listed_with_its_help() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)

    assert result.exit_code == 0, result.output
    for name, (_module, help_text) in AREAS.items():
        assert name in result.output
        assert help_text in result.output
    assert "status" in result.output  # the root's own commands too


def test_given_an_area_when_its_help_is_asked_then_its_own_commands_answer() -> None:
    result = CliRunner().invoke(app, ["calls", "--help"], terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "list" in result.output
    assert "show" in result.output


def test_every_area_names_a_module_with_a_typer_app() -> None:
    for module, _help in AREAS.values():
        assert hasattr(importlib.import_module(f"line311.commands.{module}"), "app"), module


def test_importing_the_command_line_does_not_import_the_database_or_web_layers() -> None:
    """What every ``line311 ...`` pays before it runs: `line311 status` needs neither."""
    code = (
        "import sys, line311.cli; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'fastapi') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout

    assert out.strip() == "[]", out
