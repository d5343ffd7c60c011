"""Self-service content: what each info node says on a day, and the file's validation."""

from __future__ import annotations

import datetime as dt

import pytest

from line311.config import REPO_ROOT
from line311.ivr.content import ContentError, info_for
from line311.ivr.validate import load_content_file, parse_content
from tests.unit.ari.ivr_fakes import (
    CATALOGUE,
    CONTENT,
)


# ---------------------------------------------------------------------------- content
@pytest.mark.parametrize(
    ("day", "asp", "schools"),
    [
        ("2026-06-09", ["asp_in_effect"], ["schools_open"]),  # a Tuesday
        ("2026-06-10", ["asp_suspended", "info_unavailable"], ["schools_open"]),
        ("2026-06-11", ["asp_suspended", "info_unavailable"], ["schools_open"]),  # until
        ("2026-06-12", ["asp_in_effect"], ["schools_closed"]),
        ("2026-06-13", ["asp_in_effect"], ["schools_closed"]),  # Saturday
        ("2026-06-14", ["asp_suspended"], ["schools_closed"]),  # Sunday
        ("2026-07-03", ["asp_suspended"], ["schools_open"]),  # holiday, schools ignore them
    ],
)
def test_given_content_when_asked_for_a_day_then_each_section_says_its_rule_for_that_day(
    day: str, asp: list[str], schools: list[str]
) -> None:
    info = info_for(parse_content(CONTENT), dt.date.fromisoformat(day))

    assert info["asp_today"] == asp
    assert info["school_closures"] == schools


def test_given_content_when_asked_then_collection_follows_holidays_and_offices_default_to_open() -> (
    None
):
    content = parse_content(CONTENT)

    assert info_for(content, dt.date(2026, 7, 3))["collection"] == ["collection_delayed"]
    assert info_for(content, dt.date(2026, 7, 6))["collection"] == ["collection_on_schedule"]
    assert info_for(content, dt.date(2026, 7, 3))["office_closures"] == ["offices_open"]


def test_given_holidays_when_asked_then_the_schedule_names_the_next_one_on_or_after_today() -> None:
    content = parse_content(CONTENT)

    assert info_for(content, dt.date(2026, 7, 3))["holiday_schedule"] == [
        "holiday_next",
        "say:date:2026-07-03",
    ]
    assert info_for(content, dt.date(2026, 7, 4))["holiday_schedule"][1] == "say:date:2026-09-07"
    assert "holiday_schedule" not in info_for(content, dt.date(2027, 1, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: x", "'version' must be an integer"),
        ("version: 1\nparking: {}", "unknown key(s): parking"),
        ("version: 1\nholidays: [{date: 2026-13-01, name: x}]", "dates are YYYY-MM-DD"),
        ("version: 1\nschools: {weekdays: [funday]}", "'funday' is not a day name"),
        (
            "version: 1\nschools: {dates: [{date: 2026-01-02, until: 2026-01-01, reason: x}]}",
            "'until' is before 'date'",
        ),
        ("version: 1\nschools: {dates: [{date: 2026-01-02}]}", "missing reason"),
        (
            "version: 1\nschools: {dates: [{date: 2026-01-02, reason: x, say: [nope]}]}",
            "unknown prompt id 'nope'",
        ),
        ("version: 1\nschools: {holidays: maybe}", "schools.holidays must be true or false"),
    ],
)
def test_given_a_bad_content_file_when_parsed_then_the_error_names_the_problem(
    text: str, message: str
) -> None:
    with pytest.raises(ContentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_content(text, catalogue=CATALOGUE)


def test_given_the_shipped_content_file_when_loaded_then_it_validates_against_the_catalogue() -> (
    None
):
    content = load_content_file(REPO_ROOT / "content" / "nyc311.yaml", catalogue=CATALOGUE)

    info = info_for(content, dt.date(2026, 12, 25))
    assert info["asp_today"] == ["asp_suspended"]
    assert info["office_closures"] == ["offices_closed"]
    prompts = {p for said in info.values() for p in said if not p.startswith("say:")}
    assert prompts <= set(CATALOGUE)
