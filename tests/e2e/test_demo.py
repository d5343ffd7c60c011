"""`line311 demo` against a test stack: calls are recorded, CCRs end logged out, and no SIPp
process the demo started is left behind."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import AsteriskInstance
from tests.e2e.conftest import running_stack
from tests.e2e.stack import LINE311, Stack, wait_until

pytestmark = pytest.mark.asterisk

QUEUES = """\
queues:
  general:
    requires: "topic:general"
    wrapup_seconds: 1
"""


@pytest.fixture
def stack(asterisk_instance: AsteriskInstance, tmp_path: Path) -> Iterator[Stack]:
    (tmp_path / "queues.yaml").write_text(QUEUES)
    env = {"LINE311_QUEUES_FILE": str(tmp_path / "queues.yaml")}
    with running_stack(asterisk_instance, tmp_path, env) as s:
        yield s


def demo_sipp_processes() -> list[int]:
    """PIDs of processes whose command line names a demo work directory."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"sipp" in cmdline and b"line311-demo-" in cmdline:
            pids.append(int(entry.name))
    return pids


def test_given_a_running_stack_when_the_demo_runs_for_twenty_seconds_then_calls_are_recorded_and_nothing_is_left_running(
    stack: Stack, asterisk_instance: AsteriskInstance
) -> None:
    assert demo_sipp_processes() == []
    known = {r["call_id"] for r in stack.calls()}
    started = time.monotonic()
    proc = subprocess.run(
        [
            *LINE311, "demo",
            "--calls-per-minute", "30", "--minutes", "0.33", "--grace-seconds", "5",
            "--agents", "2", "--talk-seconds", "4", "--seed", "7",
            "--topics", "ccr=50,parking=50", "--mix", "en=70,es=30",
        ],
        env=stack.env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert time.monotonic() - started < 60
    out = proc.stdout
    assert f"http://127.0.0.1:{stack.http_port}/" in out
    assert "/metrics" in out
    assert "sign in as demo / " in out
    assert "demo done: residents called for" in out
    assert demo_sipp_processes() == []

    # the calls reached line311 and were recorded (those the demo cut short included); records
    # reach the bridge in batches after a linger, so wait for the count, not the first one
    def recorded() -> list[dict[str, object]] | None:
        fresh = [r for r in stack.calls() if r["call_id"] not in known]
        return fresh if len(fresh) >= 3 else None

    wait_until(recorded, 20, "3 of the demo's call records", step=0.5)
    # the CCRs it logged in are logged out again
    token = stack.supervisor_token()
    agents = httpx.get(
        f"http://127.0.0.1:{stack.http_port}/api/desk/agents",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()["agents"]
    assert {a["agent_id"]: a["state"] for a in agents if a["agent_id"] in ("agent1", "agent2")} == {
        "agent1": "logged_out",
        "agent2": "logged_out",
    }
    # and their phones' registrations are taken back: no CCR phone left "registered" for
    # the hour of its Expires with nobody behind it
    ari = asterisk_instance
    for agent in ("agent1", "agent2"):
        endpoint = httpx.get(
            f"{ari.ari_url}/ari/endpoints/PJSIP/{agent}",
            auth=(ari.ari_user, ari.ari_password),
            timeout=5,
        ).json()
        assert endpoint["state"] == "offline", endpoint
    # the demo account's password is kept for the next run
    assert os.path.exists(Path(stack.env["LINE311_STATE_DIR"]) / "demo-password")
