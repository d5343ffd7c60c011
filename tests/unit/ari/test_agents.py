"""CCRs at the ARI edge: feature codes dialled from their phones, and who a phone belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from line311.ari.agents import AgentDesk
from line311.ari.translate import NewCall
from line311.config import REPO_ROOT
from line311.routing.roster import load_roster_file
from tests.unit.ari.queue_harness import Harness


def desk(h: Harness) -> AgentDesk:
    return AgentDesk(
        h.ari, h.runtime, load_roster_file(REPO_ROOT / "content/agents.yaml")[:2],
        sounds_uri_prefix="sound:/s",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("code", "state", "prompt"),
    [
        ("*71", "available", "agent/logged_in"),
        ("*73", "logged_out", "agent/refused"),  # pausing while logged out
        ("*99", "logged_out", "agent/refused"),
    ],
)
async def test_a_feature_code_from_a_ccr_phone_changes_their_state_and_is_confirmed(
    code: str, state: str, prompt: str
) -> None:
    h = Harness()
    d = desk(h)
    new = NewCall("f1", "agent-feature", code, channel_name="PJSIP/agent1-0000002a")
    await d.on_feature(new, h.now)
    assert h.router.agent("agent1").state.value == state
    (play,) = h.ari.did("play")
    assert play[2] == [f"sound:/s/en/{prompt}"]
    assert h.ari.calls[-1] == ("hangup", "f1")


def test_an_endpoint_that_is_no_ccr_is_not_anyone(tmp_path: Path) -> None:
    h = Harness()
    assert desk(h).agent_for("PJSIP/carrier-00000001") is None
    assert desk(h).agent_for("PJSIP/agent2-00000001") == "agent2"
