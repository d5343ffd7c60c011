"""The bridge served by uvicorn on a real socket, fed by the controller's `CrmClient`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.crm_bridge.client import CrmClient
from line311.crm_bridge.errors import CrmConflict, CrmRejected, CrmUnavailable
from line311.crm_bridge.server import make_server

from .conftest import API_KEY

pytestmark = pytest.mark.integration


async def test_given_a_running_bridge_when_the_client_posts_then_stored_once_and_conflicts_raise(
    engine: Engine, settings: Settings, make_record: Callable[..., dict[str, Any]]
) -> None:
    server = make_server(settings, app=create_app(settings, engine=engine), port=0)
    task = asyncio.create_task(server.serve())
    try:
        await server.wait_started()
        url = f"http://127.0.0.1:{server.bound_port}"
        async with CrmClient(url, API_KEY, attempts=2, backoff=0.01) as crm:
            await crm.post_call(make_record())
            await crm.post_call(make_record())  # an identical repeat is fine
            with pytest.raises(CrmConflict):
                await crm.post_call(make_record(outcome="abandoned"))
            stored = await crm.get_call("1737986400.1")
            assert stored is not None
            assert stored["outcome"] == "self_served"
        async with CrmClient(url, "wrong-key", attempts=1) as crm:
            with pytest.raises(CrmRejected):
                await crm.post_call(make_record())
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    assert task.done()
    assert task.exception() is None


async def test_given_no_bridge_listening_when_posting_then_crm_unavailable() -> None:
    async with CrmClient("http://127.0.0.1:1", API_KEY, attempts=2, backoff=0.01) as crm:
        with pytest.raises(CrmUnavailable, match="after 2 tries"):
            await crm.post_call({"call_id": "x"})
