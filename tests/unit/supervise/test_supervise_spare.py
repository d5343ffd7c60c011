"""The child's side of a warm spare (`line311.supervise.spare`), in this process."""

from __future__ import annotations

import pytest

from line311.supervise.spare import SPARE_ENV, await_turn, lazy_imports, preload


def test_a_spare_imports_ahead_what_every_part_of_bootstrap_imports_lazily() -> None:
    names = lazy_imports()
    # the controller's, an IVR worker's, the dashboard's and the CRM bridge's heavy libraries
    for name in (
        "line311.ari.queue_edge",
        "line311.ari.ivr_edge",
        "line311.dashboard.app",
        "line311.db.migrate",
        "line311.crm_bridge.delivery",
        "fastapi",
    ):
        assert name in names
    assert len(names) == len(set(names))


def test_given_no_such_module_then_lazy_imports_says_so() -> None:
    with pytest.raises(ImportError):
        lazy_imports("line311.no_such_module")


def test_preload_reports_the_modules_it_could_not_import_and_goes_on() -> None:
    assert preload(["json", "line311.no_such_module", "os"]) == ["line311.no_such_module"]


def test_given_no_spare_flag_then_await_turn_returns_at_once_and_changes_nothing() -> None:
    environ = {"LINE311_LOG_LEVEL": "INFO"}
    await_turn(environ, modules=["line311.no_such_module"])
    assert environ == {"LINE311_LOG_LEVEL": "INFO"}
    assert SPARE_ENV not in environ
