"""Every test checks something: no test function runs code and asserts nothing.

A test *verifies* when its body (nested blocks included) has an ``assert``, a
``pytest.raises`` / ``pytest.warns`` / ``pytest.deprecated_call`` / ``pytest.fail``, or a call
to a helper whose name starts with ``assert``, ``expect`` or ``check`` (``mock.assert_called``,
Playwright's ``expect(...)``, ``check_rows(...)``): helpers that verify must say so in their name.
A test that verifies by other means goes in ``ALLOWED`` with the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

VERIFYING_PREFIXES = ("assert", "expect", "check")
PYTEST_CHECKS = frozenset({"raises", "warns", "deprecated_call", "fail"})

ALLOWED: dict[str, str] = {
    # "tests/dir/test_file.py::test_name": "why it verifies without an assert",
}


def _called_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def verifies(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether ``function`` asserts, expects an error or warning, or calls a checking helper."""
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = _called_name(node.func)
            if name in PYTEST_CHECKS or name.lstrip("_").lower().startswith(VERIFYING_PREFIXES):
                return True
    return False


def defined_tests(source: str) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            yield node


def silent_tests(root: Path = TESTS) -> list[str]:
    """``path::name`` of every test under ``root`` that verifies nothing (ALLOWED excepted)."""
    found = []
    for path in sorted(root.rglob("test_*.py")):
        where = path.relative_to(root.parent).as_posix()
        for function in defined_tests(path.read_text(encoding="utf-8")):
            key = f"{where}::{function.name}"
            if not verifies(function) and key not in ALLOWED:
                found.append(f"{key} (line {function.lineno})")
    return found


def test_every_test_verifies_something() -> None:
    assert silent_tests() == [], "tests that assert nothing (add an assert, or see ALLOWED)"


def test_the_allow_list_names_only_tests_that_exist() -> None:
    for key in ALLOWED:
        path, _, name = key.partition("::")
        source = (TESTS.parent / path).read_text(encoding="utf-8")
        assert name in {f.name for f in defined_tests(source)}, key


def test_the_guard_tells_a_silent_test_from_one_that_checks() -> None:
    source = """
def test_silent():
    compute()

async def test_awaits_only():
    await client.post("/x")

def test_asserts():
    assert compute() == 1

def test_raises():
    with pytest.raises(ValueError):
        compute()

def test_mock_check():
    m.assert_called_once_with(1)

async def test_expect():
    await expect(page.locator("h1")).to_have_text("x")

def test_helper():
    check_rows(rows, calls)

def test_nested():
    for x in xs:
        if x:
            assert x
"""
    verdicts = {f.name: verifies(f) for f in defined_tests(source)}
    assert verdicts == {
        "test_silent": False,
        "test_awaits_only": False,
        "test_asserts": True,
        "test_raises": True,
        "test_mock_check": True,
        "test_expect": True,
        "test_helper": True,
        "test_nested": True,
    }
