"""Skills, proficiency levels and requirement expressions."""

from __future__ import annotations

import re

import pytest

from line311.routing.errors import RoutingConfigError, SkillExpressionError
from line311.routing.skills import Requirement, Requirements, SkillSet, lang, topic


def test_skill_names_are_kind_colon_name():
    assert lang("yue") == "lang:yue"
    assert topic("social_services") == "topic:social_services"
    with pytest.raises(RoutingConfigError, match="bad skill"):
        lang("Русский")


def test_a_skill_set_holds_levels_one_to_five():
    skills = SkillSet({"lang:en": 5, "topic:housing": 2})
    assert skills.level("lang:en") == 5
    assert skills.level("lang:ru") == 0
    assert skills.total == 7
    assert SkillSet.parse("lang:en=5, topic:housing=2") == skills
    assert SkillSet.parse("topic:noise")["topic:noise"] == 3
    assert hash(skills) == hash(SkillSet({"topic:housing": 2, "lang:en": 5}))
    for bad in (0, 6, 2.5, True):
        with pytest.raises(RoutingConfigError, match="proficiency"):
            SkillSet({"lang:en": bad})
    with pytest.raises(RoutingConfigError, match="bad skill level"):
        SkillSet.parse("lang:en=high")


def test_an_expression_parses_to_sorted_terms_and_prints_back():
    req = Requirements.parse("topic:housing AND lang:ru>=3")
    assert req.all_of == (Requirement("lang:ru", 3), Requirement("topic:housing", 1))
    assert str(req) == "lang:ru>=3 AND topic:housing"
    assert Requirements.parse(str(req)) == req
    assert Requirements.parse("lang:ru>=3 && topic:housing and lang:ru>=2") == req
    assert Requirements.parse("*") == Requirements() == Requirements.parse("  ")
    assert str(Requirements()) == "*"


@pytest.mark.parametrize("text", ["lang:ru>=", "lang:ru>=9", "lang:ru OR lang:es", "ru>=2", "a b"])
def test_a_malformed_expression_is_refused_with_the_text(text):
    with pytest.raises(SkillExpressionError, match=re.escape(repr(text))):
        Requirements.parse(text)


def test_matching_scoring_capping_and_combining():
    req = Requirements.parse("lang:ru>=3 AND topic:housing>=2")
    good = SkillSet({"lang:ru": 4, "topic:housing": 2, "lang:en": 5})
    weak = SkillSet({"lang:ru": 2, "topic:housing": 5})
    assert req.matches(good)
    assert not req.matches(weak)
    assert req.score(good) == 6
    assert req.capped(2).matches(weak)
    assert req.capped(5) is req
    both = req.and_(Requirements.parse("lang:ru>=4 AND topic:general"))
    assert str(both) == "lang:ru>=4 AND topic:general AND topic:housing>=2"
    assert req.and_(Requirements()) is req
    assert Requirements().and_(req) is req
    assert str(req.without_kind("lang")) == "topic:housing>=2"
    assert req.skills == ("lang:ru", "topic:housing")
    assert Requirements().matches(SkillSet())
    assert not Requirements()
