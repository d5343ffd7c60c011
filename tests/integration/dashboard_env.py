"""A dashboard app in process over the ASGI transport, with a fake clock and two accounts
(``sam`` supervisor, ``olga`` operations): the sign-in and idle-timeout tests' stack."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.engine import Engine

from line311.dashboard.actions import InMemoryActions
from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState, QueueConfigured
from line311.queue.events import AgentActivity, AgentStateChanged

T0 = 1_700_000_100.0
PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    app: object
    store: AccountStore
    auth: Authenticator
    clock: FakeClock

    def client(self, address: str = "10.0.0.1") -> httpx.AsyncClient:
        """A client whose requests come from ``address`` (what the throttle keys on)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://line311.test")

    async def stop(self) -> None:
        await self.app.state.dashboard_hub.stop()  # type: ignore[attr-defined]


def build_env(db: Engine, secret: str, **auth_options: float) -> Env:
    """The app over ``db``; ``auth_options`` go to the `Authenticator` (``idle_seconds``)."""
    clock = FakeClock()
    store = AccountStore(db, clock=clock)
    store.create("sam", PASSWORD, "supervisor")
    store.create("olga", PASSWORD, "operations")
    auth = Authenticator(store, secret, clock=clock, **auth_options)  # type: ignore[arg-type]
    hub = LiveHub(LiveState(), clock=clock)
    hub.publish(QueueConfigured("general", 0.8))
    hub.publish(AgentStateChanged("a1", AgentActivity.AVAILABLE, T0))
    app = create_app(
        lambda: {"ok": True}, hub=hub, auth=auth, actions=InMemoryActions(hub, clock=clock)
    )
    return Env(app, store, auth, clock)


async def sign_in(client: httpx.AsyncClient, username: str = "sam") -> str:
    """Sign ``username`` in through the form; their CSRF token."""
    response = await client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303
    me = await client.get("/api/me")
    assert me.status_code == 200
    return str(me.json()["csrf"])
