"""The package's architecture: import contracts (import-linter) and a pure core without I/O.

`lint-imports` checks the contracts of ``[tool.importlinter]`` in pyproject.toml: the edges
above the pure core, `line311.call` at the bottom, no import cycles at all, no I/O library
imported by a pure module, API schemas built on the one record and not on database rows.
The second test imports every pure module in a fresh interpreter and checks that no I/O
library was loaded (package ``__init__`` files included, which the import graph ignores).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import line311

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

PURE_PACKAGES = ("ivr", "routing", "queue", "call")
PURE_MODULES = (
    "line311.messaging.alerts",
    "line311.messaging.alert_model",
    "line311.messaging.phone",
    "line311.messaging.phone_menu",
    "line311.messaging.pins",
    "line311.dashboard.state",
    "line311.dashboard.facts",
    "line311.dashboard.render",
    "line311.sim.model",
    "line311.sim.day",
    "line311.sim.simulate",
    "line311.supervise.policy",  # the restart policy of `line311 run`
)
FORBIDDEN = (
    "asyncio",
    "httpx",
    "websockets",
    "sqlalchemy",
    "fastapi",
    "starlette",
    "redis",
    "prometheus_client",
    "uvicorn",
    "subprocess",
)


def _pure_modules() -> list[str]:
    names = []
    path = [str(p) for p in line311.__path__]
    for pkg in PURE_PACKAGES:
        names.append(f"line311.{pkg}")
        for info in pkgutil.walk_packages([f"{path[0]}/{pkg}"], prefix=f"line311.{pkg}."):
            names.append(info.name)
    return [*names, *PURE_MODULES]


def test_given_the_import_contracts_when_linted_then_every_contract_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlinter.cli import lint_imports

    status = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    assert status == 0, capsys.readouterr().out


def test_given_the_pure_core_when_every_module_is_imported_then_no_io_library_is_loaded() -> None:
    modules = _pure_modules()
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(json.dumps(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


def test_there_is_no_top_level_queue_package_shadowing_the_stdlib() -> None:
    import queue

    assert hasattr(queue, "SimpleQueue"), queue.__file__
