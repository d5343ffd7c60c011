"""Migrations up and down, on SQLite and PostgreSQL, and the start-up schema check."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from line311.db import (
    SchemaNotCurrent,
    current_revision,
    downgrade,
    ensure_schema_current,
    head_revision,
    make_engine,
    upgrade,
)
from line311.db.api_keys import ApiKeyStore, Scope, hash_token
from line311.db.engine import make_session_factory
from line311.db.migrate import MIGRATIONS_DIR
from line311.db.models import Base

pytestmark = pytest.mark.integration


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_given_an_empty_database_when_upgraded_then_every_table_exists_and_revision_is_head(
    new_database_url: Callable[[], str],
) -> None:
    url = new_database_url()
    upgrade(url)

    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        ensure_schema_current(engine)
    finally:
        engine.dispose()
    assert _tables(url) == set(Base.metadata.tables)


def test_given_a_head_database_when_downgraded_to_base_and_up_again_then_same_schema(
    new_database_url: Callable[[], str],
) -> None:
    url = new_database_url()
    upgrade(url)
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url)
    assert _tables(url) == set(Base.metadata.tables)


def test_each_migration_steps_down_and_up_one_at_a_time(
    new_database_url: Callable[[], str],
) -> None:
    url = new_database_url()
    revisions = sorted(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))
    for rev in revisions:
        upgrade(url, rev)
    for _ in revisions:
        downgrade(url, "-1")
    assert _tables(url) == set()


def test_the_models_agree_with_the_migrations(new_database_url: Callable[[], str]) -> None:
    url = new_database_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_given_an_empty_database_when_a_service_checks_the_schema_then_it_is_told_to_upgrade(
    new_database_url: Callable[[], str],
) -> None:
    engine = make_engine(new_database_url())
    try:
        with pytest.raises(SchemaNotCurrent, match="run: line311 db upgrade"):
            ensure_schema_current(engine)
    finally:
        engine.dispose()


def test_given_an_older_schema_when_a_service_checks_then_it_names_both_revisions(
    new_database_url: Callable[[], str],
) -> None:
    url = new_database_url()
    upgrade(url)
    if head_revision() == "0001":
        pytest.skip("only one migration so far")
    downgrade(url, "-1")
    engine = make_engine(url)
    try:
        with pytest.raises(SchemaNotCurrent, match=rf"needs {head_revision()}.*db upgrade"):
            ensure_schema_current(engine)
    finally:
        engine.dispose()


def test_migrations_run_from_any_working_directory(
    new_database_url: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = new_database_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    assert not any(p.name == "alembic.ini" for p in Path(os.getcwd()).iterdir())


def test_given_keys_stored_before_0011_when_upgraded_and_downgraded_then_kept_unbound(
    new_database_url: Callable[[], str],
) -> None:
    url = new_database_url()
    upgrade(url, "0010")
    engine = make_engine(url)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO api_keys (name, scope, token_hash, prefix, created_at) "
                    "VALUES ('old desk', 'agent_desktop', :digest, 'l311_old', :created)"
                ),
                {"digest": hash_token("l311_old-desk"), "created": created},
            )
        upgrade(engine, "0011")
        keys = ApiKeyStore(make_session_factory(engine))
        old = keys.find("l311_old-desk")
        assert old is not None
        assert (old.agent_id, old.unbound) == (None, True)
        assert keys.count_unbound() == 1
        keys.create("desk ana", Scope.AGENT_DESKTOP, agent_id="ana")

        downgrade(engine, "0010")
        assert "agent_id" not in {c["name"] for c in inspect(engine).get_columns("api_keys")}
        with engine.connect() as conn:
            names = set(conn.scalars(text("SELECT name FROM api_keys")))
        assert names == {"old desk", "desk ana"}
    finally:
        engine.dispose()
