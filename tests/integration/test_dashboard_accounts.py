"""Accounts on SQLite and PostgreSQL, and the `line311 accounts` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from line311.cli import app as cli_app
from line311.dashboard.auth import AccountStore, Role
from line311.dashboard.errors import AccountError, AuthError
from line311.db import make_engine, upgrade
from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)

pytestmark = pytest.mark.integration


def test_given_accounts_then_they_authenticate_list_and_disable(engine: Engine) -> None:  # noqa: F811
    store = AccountStore(engine)
    store.create("Ana.Ops", "long enough pw", "operations")
    store.create("sam", "long enough pw", "supervisor")
    assert store.authenticate("ana.ops", "long enough pw").role is Role.OPERATIONS
    with pytest.raises(AuthError):
        store.authenticate("ana.ops", "wrong password")
    with pytest.raises(AuthError):
        store.authenticate("nobody", "long enough pw")
    with pytest.raises(AccountError, match="already exists"):
        store.create("sam", "long enough pw", "operations")
    with pytest.raises(AccountError, match="too short"):
        store.create("tim", "short", "operations")
    with pytest.raises(AccountError, match="role"):
        store.create("tim", "long enough pw", "admin")
    with pytest.raises(AccountError, match="username"):
        store.create("bad name!", "long enough pw", "operations")
    store.disable("sam")
    with pytest.raises(AuthError):
        store.authenticate("sam", "long enough pw")
    assert store.active("sam") is None
    assert [(a.username, a.disabled) for a in store.accounts()] == [
        ("ana.ops", False),
        ("sam", True),
    ]
    with pytest.raises(AccountError):
        store.disable("nobody")


def test_the_accounts_command_creates_lists_disables_and_issues_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    env = {"LINE311_STATE_DIR": str(tmp_path), "LINE311_DATABASE_URL": url}
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        ["accounts", "create", "sam", "--role", "supervisor", "--password-stdin"],
        input="a long password\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli_app, ["accounts", "list", "--json"], env=env)
    assert json.loads(result.stdout)[0]["role"] == "supervisor"
    result = runner.invoke(cli_app, ["accounts", "token", "sam", "--days", "1"], env=env)
    assert result.exit_code == 0
    assert result.stdout.count(".") == 1
    result = runner.invoke(cli_app, ["accounts", "disable", "sam"], env=env)
    assert result.exit_code == 0
    result = runner.invoke(cli_app, ["accounts", "token", "sam"], env=env)
    assert result.exit_code != 0
    db = make_engine(url)
    try:
        assert AccountStore(db).accounts()[0].disabled
    finally:
        db.dispose()
