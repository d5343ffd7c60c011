"""Settings.sl_policies: each queue's own sl_threshold / sl_goal from the queue definitions,
the center's settings for the others (issue 16: they were parsed and ignored)."""

from __future__ import annotations

from pathlib import Path

from line311.config import Settings
from line311.queue.service_level import SlFormula


def test_queue_definitions_override_the_center_threshold_and_goal(tmp_path: Path) -> None:
    queues = tmp_path / "queues.yaml"
    queues.write_text(
        "queues:\n"
        "  general: {requires: 'topic:general'}\n"
        "  housing: {requires: 'topic:housing', sl_threshold: 20, sl_goal: 0.9}\n"
        "  noise: {requires: 'topic:noise', sl_goal: 0.7}\n"
    )
    settings = Settings(
        state_dir=tmp_path, queues_file=queues, sl_threshold=25, sl_formula="all-calls"
    )
    policies = settings.sl_policies()
    assert (policies("general").threshold, policies("general").goal) == (25, 0.8)
    assert (policies("housing").threshold, policies("housing").goal) == (20, 0.9)
    assert (policies("noise").threshold, policies("noise").goal) == (25, 0.7)
    assert {policies(q).formula for q in ("general", "housing", "noise")} == {SlFormula.ALL_CALLS}


def test_the_built_in_queues_follow_the_settings(tmp_path: Path) -> None:
    policies = Settings(state_dir=tmp_path, sl_threshold=45).sl_policies()
    assert policies("housing").threshold == 45
    assert policies.by_queue == {}
