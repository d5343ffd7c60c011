"""Warm spares, the child's side: a ``line311`` process started ahead of need, its libraries
already imported, that becomes the next instance of a supervised command at once.

Theory of operation
-------------------
A controller killed under ``line311 run`` is started again after the backoff (0.5 s), and a
cold ``line311 serve`` then spends most of its first seconds importing its libraries
(FastAPI, SQLAlchemy, Alembic, redis-py, pydantic, line311's own edges: about 2 s on an idle
2-core box, 4 s on a busy one) before it can connect to ARI, while its callers hear nothing.
So the supervisor keeps one *spare* per such command (`CommandProcess` with ``spare``)::

    supervisor                                   spare (same argv, LINE311_SPARE=1)
    spawn: stdin, stdout pipes; stderr the log ▶ await_turn(): import what line311.bootstrap
                                                 imports lazily
    "spare ready" in the status file  ◀───────   "ready" on stdout; block reading stdin
    the active one dies; after the backoff:
    write "go", close the pipes ────────────▶    stdin to /dev/null, stdout to the log;
                                                 return: main() goes on as a cold start does
                                                 (reads the settings *now*, connects, ...)
    some seconds later: spawn the next spare

* It reads its settings only once told to go, so it starts with the configuration of that
  moment, as a cold start would. Its *code* is the code on disk when it was spawned: a rolling
  restart (a deploy) cold-starts its twins and drops the old spares, and a spare whose
  package changed on disk since it started (`code_stamp`: a new version installed without a
  rolling restart) is dropped at the take-over, for a cold start.
* End of file on the pipe (the supervisor dropped the spare, or died) makes it leave with
  status 0 having done nothing, so a spare never outlives its supervisor.
* A module that fails to import is skipped (logged): the command imports it again when it
  needs it and reports the error where a cold start would.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, MutableMapping

__all__ = [
    "GO",
    "PRELOADED_FROM",
    "READY",
    "SPARE_ENV",
    "await_turn",
    "code_stamp",
    "lazy_imports",
    "preload",
]

logger = logging.getLogger(__name__)

SPARE_ENV = "LINE311_SPARE"
"""Set (to "1") in a spare's environment; removed from it before it goes on."""
GO = b"go\n"
"""The line that lets a spare go on as its command."""
READY = b"ready\n"
"""The line a spare writes once its imports are done."""
PRELOADED_FROM = "line311.bootstrap"
"""The module whose imports inside functions a spare makes ahead (each part's libraries)."""


def code_stamp(package: str = "line311") -> tuple[int, int]:
    """The number of ``package``'s source files and their latest modification (ns): it
    changes when a new version is installed or a file is edited (a few ms for line311)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"no package {package!r}")
    count = latest = 0
    for location in spec.submodule_search_locations:
        for folder, _dirs, files in os.walk(location):
            for name in files:
                if name.endswith(".py"):
                    with contextlib.suppress(OSError):  # removed while we looked
                        latest = max(latest, os.stat(os.path.join(folder, name)).st_mtime_ns)
                        count += 1
    return count, latest


def lazy_imports(module: str = PRELOADED_FROM) -> list[str]:
    """The absolute module names ``module`` imports inside its functions (its lazy imports),
    in the order they appear, each once."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module {module!r}")
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), spec.origin)
    names: dict[str, None] = {}
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.setdefault(node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    names.setdefault(alias.name)
    return list(names)


def preload(modules: Iterable[str]) -> list[str]:
    """Import ``modules``; return those that failed (logged, never raised)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optional library, or a fault the command will report
            logger.warning("spare: %s not imported ahead (%s)", name, exc)
            failed.append(name)
    return failed


def await_turn(
    environ: MutableMapping[str, str] | None = None,
    modules: Iterable[str] | None = None,
) -> None:
    """Return at once unless this process is a spare (``LINE311_SPARE`` in ``environ``).

    A spare imports ``modules`` (default: `lazy_imports`), writes `READY` on its stdout and
    waits for `GO` on its stdin; then it points its stdin at /dev/null and its stdout at its
    stderr (the log) and returns. On anything else (end of file: it was dropped) it exits with
    status 0, having done nothing."""
    environ = os.environ if environ is None else environ
    if environ.pop(SPARE_ENV, None) is None:
        return
    preload(lazy_imports() if modules is None else modules)
    try:
        os.write(1, READY)
        line = sys.stdin.buffer.readline()
    except (OSError, ValueError):
        line = b""
    if line != GO:
        raise SystemExit(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, 0)
    finally:
        os.close(devnull)
    os.dup2(2, 1)
