"""Migrations up and down, on SQLite and PostgreSQL, and the start-up schema check."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from line311.db import (
    SchemaNotCurrent,
    current_revision,
    downgrade,
    ensure_schema_current,
    head_revision,
    make_engine,
    upgrade,
)
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
