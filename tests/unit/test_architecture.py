"""The pure core imports no I/O library: checked in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import line311

PURE_PACKAGES = ("ivr", "routing", "queue", "call")
PURE_MODULES = (  # the supervisor line
    "line311.messaging.phone",
    "line311.messaging.phone_menu",
    "line311.messaging.pins",
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
    for pkg in PURE_PACKAGES:
        names.append(f"line311.{pkg}")
        path = [str(p) for p in line311.__path__]
        for info in pkgutil.walk_packages([f"{path[0]}/{pkg}"], prefix=f"line311.{pkg}."):
            names.append(info.name)
    return [*names, *PURE_MODULES]


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
