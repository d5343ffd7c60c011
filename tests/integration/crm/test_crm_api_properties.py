"""Property-based API tests generated from the bridge's own OpenAPI spec (schemathesis).

Every operation is called in process (ASGI) with generated inputs — valid and invalid ones —
as an admin key holder; the one property checked is that the bridge never answers 5xx.
SQLite only, and a modest number of examples per operation, to stay well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from pydantic import SecretStr

from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.crm_bridge.catalogue import SEED_SERVICES
from line311.db import make_engine, upgrade
from line311.db.api_keys import ApiKeyStore, Scope
from line311.db.engine import make_session_factory
from tests.fixtures.openapi_props import assert_no_5xx

pytestmark = pytest.mark.integration

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def bridge_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root: Path = tmp_path_factory.mktemp("props")
    engine = make_engine(f"sqlite:///{root / 'line311.db'}")
    upgrade(engine)
    keys = ApiKeyStore(make_session_factory(engine))
    _, TOKEN["admin"] = keys.create("admin", Scope.ADMIN, rate_per_second=1e6, burst=10**6)
    _, open311 = keys.create("app", Scope.OPEN311_CLIENT, rate_per_second=1e6, burst=10**6)
    app = create_app(
        Settings(state_dir=root, crm_api_key=SecretStr("props-key-0123456789abcdef")), engine=engine
    )
    spec = app.openapi()
    for path in spec["paths"].values():  # the documented formats (others are 404s)
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "fmt":
                    parameter["schema"] = {"type": "string", "enum": ["json", "xml"]}
    # Known keys and service codes (and one unknown), so generated requests get past the
    # first checks and into the stores instead of stopping at 403/404.
    codes = [*(service.service_code for service in SEED_SERVICES[:4]), "no-such-service"]
    form = spec["paths"]["/open311/v2/requests.{fmt}"]["post"]["requestBody"]["content"]
    properties = form["application/x-www-form-urlencoded"]["schema"]["properties"]
    properties["api_key"]["enum"] = [open311]
    properties["service_code"]["enum"] = codes
    spec["components"]["schemas"]["SrCreate"]["properties"]["service_code"]["enum"] = codes
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.app = app
    yield loaded
    engine.dispose()


def test_no_input_makes_any_route_answer_5xx(bridge_schema: Any) -> None:
    headers = {"Authorization": f"Bearer {TOKEN['admin']}"}
    labels = assert_no_5xx(bridge_schema, headers)
    assert "POST /v1/calls" in labels
    assert "POST /open311/v2/requests.{fmt}" in labels
