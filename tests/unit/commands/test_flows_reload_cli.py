"""`line311 flows reload`: what it prints from the controller's reload report."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from line311.cli import app

REPORT = {
    "ok": True,
    "flow": {"ok": True, "name": "nyc311", "version": 3, "fingerprint": "abc123"},
    "content": {"ok": True, "version": 4, "fingerprint": "def456"},
}


def reload_answering(monkeypatch: pytest.MonkeyPatch, report: dict[str, Any]) -> Any:
    def post(url: str, **_: Any) -> httpx.Response:
        return httpx.Response(200, json=report, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    return CliRunner().invoke(app, ["flows", "reload", "--token", "t"])


def test_given_a_reload_that_orphans_no_alert_then_it_says_ok_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = reload_answering(monkeypatch, REPORT)

    assert result.exit_code == 0, result.output
    assert "ok: flow 'nyc311' version 3" in result.output
    assert "warning" not in result.output


def test_given_a_reload_that_leaves_out_a_live_alerts_node_then_it_warns_and_still_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orphan = {"alert_id": "20261107-1a2b3c4d", "node": "parking", "reason": "unknown",
              "message": "...", "played_instead": "greeting"}  # fmt: skip
    report = {**REPORT, "flow": {**REPORT["flow"], "orphaned_alerts": [orphan]}}

    result = reload_answering(monkeypatch, report)

    assert result.exit_code == 0, result.output
    assert "ok: flow 'nyc311' version 3" in result.output
    assert (
        "warning: live alert 20261107-1a2b3c4d targets node 'parking', which this flow does "
        "not have (unknown): it now plays right after the greeting" in result.output
    )
