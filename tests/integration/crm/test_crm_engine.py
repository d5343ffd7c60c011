"""The engine's pool: idle connections are pinged and replaced when the server dropped them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from line311.db import engine as engine_module
from line311.db import make_engine

pytestmark = pytest.mark.integration


def test_given_a_pooled_connection_the_server_dropped_when_idle_then_it_is_replaced(
    backend: str, new_database_url: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("server-side disconnects are a PostgreSQL matter")
    engine = make_engine(new_database_url())
    try:
        with engine.connect() as conn, engine.connect() as other:
            victim = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.close()  # back to the pool, where the server now drops it
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)

        with engine.connect() as first, engine.connect() as second:
            now = {
                first.execute(text("SELECT pg_backend_pid()")).scalar_one(),
                second.execute(text("SELECT pg_backend_pid()")).scalar_one(),
            }

        assert victim not in now
    finally:
        engine.dispose()
