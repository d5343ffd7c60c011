"""A CCR's skill set as a mapping: parsing edge cases, equality and its text form."""

from __future__ import annotations

import pytest

from line311.routing.errors import RoutingConfigError
from line311.routing.skills import SkillSet


def test_parse_skips_empty_parts_and_spaces() -> None:
    assert SkillSet.parse(" lang:en = 4 , , topic:noise,") == SkillSet(
        {"lang:en": 4, "topic:noise": 3}
    )
    assert SkillSet.parse("") == SkillSet()


@pytest.mark.parametrize("text", ["lang:en=five", "lang:en=", "lang:en=4.5"])
def test_parse_refuses_a_level_that_is_not_a_whole_number(text: str) -> None:
    with pytest.raises(RoutingConfigError, match="bad skill level"):
        SkillSet.parse(text)


def test_a_skill_set_is_a_read_only_mapping() -> None:
    skills = SkillSet([("topic:housing", 2), ("lang:en", 5)])
    assert len(skills) == 2
    assert list(skills) == ["topic:housing", "lang:en"]
    assert dict(skills) == {"topic:housing": 2, "lang:en": 5}
    with pytest.raises(KeyError):
        skills["lang:ru"]


def test_equality_with_other_mappings_and_text_form() -> None:
    skills = SkillSet({"lang:en": 5, "topic:housing": 2})
    assert skills == {"lang:en": 5, "topic:housing": 2}  # as any Mapping compares
    assert skills != SkillSet({"lang:en": 5})
    assert skills != "lang:en=5"
    assert repr(skills) == "SkillSet(lang:en=5, topic:housing=2)"
    assert repr(SkillSet()) == "SkillSet()"
