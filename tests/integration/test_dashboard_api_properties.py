"""Property-based tests of the controller's HTTP app, generated from its own OpenAPI spec
(schemathesis): the dashboard routes and the pushed-alerts API, called in process (ASGI)
with generated inputs -- valid and invalid -- as a supervisor holding a bearer token. The one
property checked: no input makes any route answer 5xx. Streams (``/api/live``,
``/api/alerts/feed``) never end and token revocation would end the test's own credentials, so
those are left out. SQLite only, a modest number of examples per operation."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from pydantic import SecretStr

from line311.config import Settings
from line311.dashboard.actions import InMemoryActions
from line311.dashboard.alerts_api import create_alerts_router
from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator, require_role
from line311.dashboard.live import LiveHub
from line311.dashboard.state import AlertRaised, LiveState, QueueConfigured
from line311.db import make_engine, upgrade
from line311.db.engine import make_session_factory
from line311.db.queue_models import load_events
from line311.messaging.alert_service import AlertService
from line311.messaging.alert_store import AlertStore
from line311.queue.events import AgentActivity, AgentStateChanged
from tests.fixtures.openapi_props import assert_no_5xx

pytestmark = pytest.mark.integration

SECRET = "props-dashboard-secret-0123456789"
PASSWORD = "correct horse battery"
SKIPPED = {"GET /api/live", "GET /api/alerts/feed", "POST /api/token/revoke"}
TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def controller_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root: Path = tmp_path_factory.mktemp("dashboard-props")
    engine = make_engine(f"sqlite:///{root / 'line311.db'}")
    upgrade(engine)
    store = AccountStore(engine)
    store.create("sam", PASSWORD, "supervisor")
    auth = Authenticator(store, SECRET)
    TOKEN["sam"], _ = auth.bearer_token("sam")
    hub = LiveHub(LiveState())
    hub.publish(QueueConfigured("general", 0.8))
    hub.publish(AgentStateChanged("a1", AgentActivity.AVAILABLE, 1_700_000_000.0))
    hub.publish(AlertRaised("snow", 1_700_000_000.0, "Schools closed"))
    settings_ = Settings(state_dir=root, dashboard_secret=SecretStr(SECRET))
    service = AlertService.from_settings(
        settings_, AlertStore(make_session_factory(engine)), copy_to_asterisk=False
    )
    app = create_app(
        lambda: {"ok": True},
        hub=hub,
        auth=auth,
        actions=InMemoryActions(hub),
        alerts_router=create_alerts_router(
            require_role("operations"), service=service, max_upload_bytes=200_000
        ),
        max_upload_bytes=200_000,
        events=functools.partial(load_events, engine),  # reports read the database, as deployed
    )
    loaded = schemathesis.openapi.from_dict(app.openapi())
    loaded.app = app
    yield loaded
    engine.dispose()


def test_no_input_makes_any_controller_route_answer_5xx(controller_schema: Any) -> None:
    headers = {"Authorization": f"Bearer {TOKEN['sam']}"}
    labels = assert_no_5xx(controller_schema, headers, skipped=SKIPPED)
    assert "GET /api/reports/sl" in labels
    assert "POST /api/token" in labels
    assert "POST /api/agents/{agent_id}/pause" in labels
    assert "POST /api/alerts" in labels
