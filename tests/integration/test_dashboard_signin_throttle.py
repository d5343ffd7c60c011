"""Sign-in throttling per client address (SQLite and PostgreSQL, in process over the ASGI
transport from chosen client addresses, a fake clock). Before, five wrong passwords for a
name, from anywhere, locked that name for a minute, so anyone who knew a supervisor's user
name could keep them out. Now the lock is per (name, address) and per address; many
addresses guessing one name are held off at a much higher count, except where the name has
signed in before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)
from tests.integration.dashboard_env import PASSWORD, Env, build_env, sign_in

pytestmark = pytest.mark.integration

SECRET = "throttle-test-secret-0123456789abcdef"


@pytest.fixture
async def env(engine: Engine) -> AsyncIterator[Env]:  # noqa: F811
    found = build_env(engine, SECRET)
    yield found
    await found.stop()


async def wrong(client: httpx.AsyncClient, username: str = "sam") -> httpx.Response:
    return await client.post("/login", data={"username": username, "password": "wrong" * 3})


async def test_given_failures_from_one_address_then_the_user_at_another_signs_in(
    env: Env,
) -> None:
    async with env.client("203.0.113.7") as attacker, env.client("10.0.0.1") as desk:
        for _ in range(5):
            assert (await wrong(attacker)).status_code == 401
        locked = await wrong(attacker)
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "60"
        # the attacker's right guess is refused too while its address is locked
        right = await attacker.post("/login", data={"username": "sam", "password": PASSWORD})
        assert right.status_code == 429
        await sign_in(desk)  # sam at their own desk is not locked out
        token = await desk.post("/api/token", json={"username": "sam", "password": PASSWORD})
        assert token.status_code == 200
        refused = await attacker.post("/api/token", json={"username": "sam", "password": PASSWORD})
        assert refused.status_code == 429
        assert refused.json()["error_id"] == "too-many-attempts"
        assert refused.headers["retry-after"] == "60"
        env.clock.now += 60
        assert (await wrong(attacker)).status_code == 401  # the lock ends with its minute


async def test_given_one_address_guessing_many_names_then_it_is_locked(env: Env) -> None:
    async with env.client("203.0.113.7") as attacker, env.client("10.0.0.1") as desk:
        for i in range(20):
            assert (await wrong(attacker, f"user{i}")).status_code == 401
        assert (await wrong(attacker, "olga")).status_code == 429
        await sign_in(desk, "olga")


async def test_given_many_addresses_guessing_one_name_then_new_addresses_are_held_off(
    env: Env,
) -> None:
    """A distributed guess: each address under its own limits, 100 failures in all. Its
    owner still signs in from where they did before; a new address waits."""
    async with env.client("10.0.0.1") as desk:
        await sign_in(desk)
    for bot in range(25):
        async with env.client(f"198.51.100.{bot}") as attacker:
            for _ in range(4):
                assert (await wrong(attacker)).status_code == 401
    async with env.client("198.51.100.200") as attacker:
        held = await wrong(attacker)
        assert held.status_code == 429
        assert int(held.headers["retry-after"]) == 900
        assert "this account" in held.text
    async with env.client("10.0.0.1") as desk:
        await sign_in(desk)
    async with env.client("198.51.100.200") as other:
        await sign_in(other, "olga")  # other names are not affected
