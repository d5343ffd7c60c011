"""The CCR roster: the shipped file and refusals that name the agent."""

from __future__ import annotations

import pytest

from line311.config import REPO_ROOT
from line311.routing.errors import RoutingConfigError
from line311.routing.roster import load_roster, load_roster_file


def test_the_shipped_roster_has_varied_language_and_topic_skills() -> None:
    roster = load_roster_file(REPO_ROOT / "content" / "agents.yaml")
    assert [p.agent_id for p in roster][:2] == ["agent1", "agent2"]
    languages = {s for p in roster for s in p.skills if s.startswith("lang:")}
    assert languages == {f"lang:{c}" for c in ("en", "es", "cmn", "yue", "ru", "ko", "ht")}
    assert roster[1].skills["lang:es"] == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"agents": {"a": {"skills": "lang:xx-1=9"}}}, "agent 'a'"),
        ({"agents": {"a": {"nmae": "x"}}}, "unknown keys"),
        ({"agents": {"a": {"endpoint": "PJSIP/x"}, "b": {"endpoint": "PJSIP/x"}}}, "twice"),
        ([], "roster"),
        ({"agents": {"a": {"skills": "lang:en=5, lang:und=5"}}}, "agent 'a'.*interpreter"),
    ],
)
def test_a_bad_roster_is_refused_naming_the_agent(data: object, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        load_roster(data)
