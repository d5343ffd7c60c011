"""Logging is put back after every test: a CLI command run in-process configures it for
the whole pytest worker (`tests.fixtures.logging_state`)."""

from __future__ import annotations

import logging

from typer.testing import CliRunner

from line311.cli import app
from tests.fixtures.logging_state import logging_kept


def _state() -> tuple[int, list[logging.Handler], int]:
    root = logging.getLogger()
    return root.level, list(root.handlers), logging.getLogger("line311.routing").level


def test_given_cli_commands_run_in_process_then_logging_is_put_back_as_it_was() -> None:
    before = _state()
    with logging_kept():
        validated = CliRunner().invoke(app, ["flows", "validate"])
        simulated = CliRunner().invoke(app, ["simulate", "--calls", "50", "--json"])
        # what the commands did to this process: the root at INFO with a handler of theirs,
        # the routing's loggers turned down by `simulate`
        assert logging.getLogger().level == logging.INFO
        assert any(getattr(h, "_line311", False) for h in logging.getLogger().handlers)
        assert logging.getLogger("line311.routing").level == logging.WARNING

    assert validated.exit_code == 0, validated.output
    assert simulated.exit_code == 0, simulated.output
    assert _state() == before


def test_given_a_handler_of_its_own_before_then_it_is_back_after_a_command_replaced_it() -> None:
    root = logging.getLogger()
    own = logging.NullHandler()
    own._line311 = True  # type: ignore[attr-defined]
    root.addHandler(own)
    try:
        with logging_kept():
            CliRunner().invoke(app, ["flows", "validate"])
            assert own not in root.handlers  # configure_logging replaced it

        assert own in root.handlers
    finally:
        root.removeHandler(own)
