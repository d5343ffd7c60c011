"""Speaking values: known renderings per language, and every output is a catalogue prompt."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from line311.config import REPO_ROOT
from line311.ivr.catalogue import LANGUAGES, Catalogue, load_catalogue
from line311.ivr.say import (
    MAX_NUMBER,
    all_building_blocks,
    say_date,
    say_digits,
    say_minutes,
    say_number,
    say_ordinal,
    say_time,
)

CATALOGUE = load_catalogue(REPO_ROOT / "content" / "catalogue")


def words(ids: list[str], lang: str, catalogue: Catalogue = CATALOGUE) -> str:
    """What the caller hears: the texts of the prompts, joined."""
    sep = "" if lang in ("cmn", "yue") else " "
    return sep.join(catalogue.text(pid, lang) for pid in ids)


# ------------------------------------------------------------------ digits


def test_given_an_sr_number_when_said_then_each_digit_is_one_prompt() -> None:
    assert say_digits("311-0042", "en") == [
        "digits/3", "digits/1", "digits/1", "digits/0", "digits/0", "digits/4", "digits/2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("lang", "heard"),
    [
        ("en", "three one zero"),
        ("es", "tres uno cero"),
        ("cmn", "三幺零"),
        ("yue", "三一零"),
        ("ru", "три один ноль"),
        ("ko", "삼 일 공"),
        ("ht", "twa en zewo"),
    ],
)
def test_digits_are_read_in_the_callers_language(lang: str, heard: str) -> None:
    assert words(say_digits("3 1 0", lang), lang) == heard


@pytest.mark.parametrize("text", ["31a", "", "--", "+1"])
def test_given_non_digits_when_said_digit_by_digit_then_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="digit"):
        say_digits(text, "en")


def test_given_an_unknown_language_then_value_error() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        say_number(1, "fr")


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("lang", "n", "heard"),
    [
        ("en", 0, "zero"),
        ("en", 21, "twenty-one"),
        ("en", 105, "one hundred five"),
        ("en", 2024, "two thousand twenty-four"),
        ("es", 21, "veintiuno"),
        ("es", 100, "cien"),
        ("es", 101, "ciento uno"),
        ("es", 115, "ciento quince"),
        ("es", 555, "quinientos cincuenta y cinco"),
        ("es", 1999, "mil novecientos noventa y nueve"),
        ("es", 2000, "dos mil"),
        ("ru", 21, "двадцать один"),
        ("ru", 242, "двести сорок два"),
        ("ru", 1000, "тысяча"),
        ("ru", 2001, "две тысячи один"),
        ("ru", 5300, "пять тысяч триста"),
        ("ko", 10, "십"),
        ("ko", 11, "십일"),
        ("ko", 110, "백 십"),
        ("ko", 1005, "천 오"),
        ("ko", 2024, "이천 이십사"),
        ("ko", 3456, "삼천 사백 오십육"),
        ("cmn", 10, "十"),
        ("cmn", 15, "十五"),
        ("cmn", 105, "一百零五"),
        ("cmn", 110, "一百一十"),
        ("cmn", 115, "一百一十五"),
        ("cmn", 1005, "一千零五"),
        ("cmn", 1050, "一千零五十"),
        ("cmn", 1500, "一千五百"),
        ("cmn", 2015, "两千零一十五"),
        ("cmn", 2300, "两千三百"),
        ("yue", 1010, "一千零一十"),
        ("yue", 200, "兩百"),
        ("ht", 21, "venteyen"),
        ("ht", 71, "swasannonz"),
        ("ht", 91, "katrevenonz"),
        ("ht", 1999, "mil nèfsan katrevendiznèf"),
    ],
)
def test_numbers_are_formed_by_each_languages_rules(lang: str, n: int, heard: str) -> None:
    assert words(say_number(n, lang), lang) == heard


@pytest.mark.parametrize("n", [-1, MAX_NUMBER + 1])
def test_given_a_number_out_of_range_then_value_error(n: int) -> None:
    with pytest.raises(ValueError, match="say_digits"):
        say_number(n, "en")


def test_given_a_non_int_then_type_error() -> None:
    with pytest.raises(TypeError):
        say_number(True, "en")
    with pytest.raises(TypeError):
        say_number(1.5, "en")  # type: ignore[arg-type]


@settings(max_examples=200)
@given(n=st.integers(0, MAX_NUMBER), lang=st.sampled_from(LANGUAGES))
def test_every_number_is_spoken_with_catalogue_prompts(n: int, lang: str) -> None:
    ids = say_number(n, lang)
    assert 1 <= len(ids) <= 5
    assert CATALOGUE.missing(ids) == []


@settings(max_examples=200)
@given(n=st.integers(1, MAX_NUMBER))
def test_zero_is_only_spoken_for_zero_except_as_a_chinese_gap(n: int) -> None:
    for lang in ("en", "es", "ru", "ko", "ht"):
        assert "numbers/0" not in say_number(n, lang)


# ------------------------------------------------------------------ ordinals and dates


def test_ordinals_cover_the_days_of_a_month() -> None:
    assert say_ordinal(31, "en") == ["ordinals/31"]
    with pytest.raises(ValueError, match=r"1\.\.31"):
        say_ordinal(0, "en")


TUESDAY_5_MARCH = dt.date(2024, 3, 5)


@pytest.mark.parametrize(
    ("lang", "heard"),
    [
        ("en", "Tuesday March fifth"),
        ("es", "martes cinco de marzo"),
        ("ru", "вторник пятое марта"),
        ("ht", "madi senk mas"),
        ("ko", "삼월 오 일 화요일"),
        ("cmn", "三月五号星期二"),
        ("yue", "三月五號星期二"),
    ],
)
def test_dates_are_said_in_each_languages_order(lang: str, heard: str) -> None:
    assert words(say_date(TUESDAY_5_MARCH, lang), lang) == heard


@pytest.mark.parametrize(
    ("lang", "heard"),
    [
        ("en", "January first"),
        ("es", "primero de enero"),
        ("ru", "первое января"),
        ("ht", "premye janvye"),
        ("ko", "일월 일 일"),
        ("cmn", "一月一号"),
    ],
)
def test_the_first_of_the_month_without_weekday(lang: str, heard: str) -> None:
    assert words(say_date(dt.date(2025, 1, 1), lang, weekday=False), lang) == heard


def test_korean_june_and_october_are_irregular() -> None:
    assert words(say_date(dt.date(2024, 6, 10), "ko", weekday=False), "ko") == "유월 십 일"
    assert words(say_date(dt.date(2024, 10, 21), "ru", weekday=False), "ru") == (
        "двадцать первое октября"
    )


@settings(max_examples=200)
@given(day=st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), lang=st.sampled_from(LANGUAGES))
def test_every_date_is_spoken_with_catalogue_prompts(day: dt.date, lang: str) -> None:
    ids = say_date(day, lang)
    assert CATALOGUE.missing(ids) == []
    assert f"weekdays/{day.strftime('%A').lower()}" in ids


# ------------------------------------------------------------------ times


@pytest.mark.parametrize(
    ("lang", "clock", "heard"),
    [
        ("en", dt.time(10, 0), "ten o'clock in the morning"),
        ("en", dt.time(10, 5), "ten oh five in the morning"),
        ("en", dt.time(14, 30), "two thirty in the afternoon"),
        ("en", dt.time(19, 45), "seven forty-five in the evening"),
        ("es", dt.time(13, 15), "la una y quince de la tarde"),
        ("es", dt.time(9, 0), "las nueve en punto de la mañana"),
        ("es", dt.time(21, 30), "las nueve y treinta de la noche"),
        ("ru", dt.time(14, 30), "четырнадцать тридцать"),
        ("ru", dt.time(9, 5), "девять ноль пять"),
        ("ru", dt.time(21, 0), "двадцать один час"),
        ("ru", dt.time(15, 0), "пятнадцать часов"),
        ("ko", dt.time(14, 30), "오후 두 시 삼십 분"),
        ("ko", dt.time(9, 0), "오전 아홉 시"),
        ("cmn", dt.time(14, 30), "下午两点三十分"),
        ("cmn", dt.time(8, 5), "上午八点零五分"),
        ("cmn", dt.time(10, 0), "上午十点整"),
        ("yue", dt.time(14, 30), "下晝兩點三十分"),
        ("yue", dt.time(20, 0), "夜晚八點正"),
        ("ht", dt.time(15, 30), "twazè trant nan aprèmidi"),
        ("ht", dt.time(12, 0), "midi pil"),
        ("ht", dt.time(8, 0), "uitè pil nan maten"),
    ],
)
def test_times_are_said_as_each_language_says_them(lang: str, clock: dt.time, heard: str) -> None:
    assert words(say_time(clock, lang), lang) == heard


@settings(max_examples=200)
@given(clock=st.times(), lang=st.sampled_from(LANGUAGES))
def test_every_time_is_spoken_with_catalogue_prompts(clock: dt.time, lang: str) -> None:
    assert CATALOGUE.missing(say_time(clock, lang)) == []


# ------------------------------------------------------------------ minutes (wait estimates)


@pytest.mark.parametrize(
    ("lang", "minutes", "heard"),
    [
        ("en", 1, "one minute."),
        ("en", 2, "two minutes."),
        ("en", 21, "twenty-one minutes."),
        ("es", 1, "un minuto."),
        ("es", 2, "dos minutos."),
        ("es", 21, "veintiún minutos."),
        ("es", 31, "treinta y un minutos."),
        ("es", 101, "ciento un minutos."),
        ("es", 11, "once minutos."),
        ("ru", 1, "одна минута."),
        ("ru", 2, "две минуты."),
        ("ru", 3, "три минуты."),
        ("ru", 5, "пять минут."),
        ("ru", 11, "одиннадцать минут."),
        ("ru", 12, "двенадцать минут."),
        ("ru", 14, "четырнадцать минут."),
        ("ru", 21, "двадцать одна минута."),
        ("ru", 22, "двадцать две минуты."),
        ("ru", 25, "двадцать пять минут."),
        ("ru", 101, "сто одна минута."),
        ("ru", 112, "сто двенадцать минут."),
        ("cmn", 1, "一分钟。"),
        ("cmn", 2, "两分钟。"),
        ("cmn", 12, "十二分钟。"),
        ("cmn", 22, "二十二分钟。"),
        ("yue", 2, "兩分鐘。"),
        ("yue", 20, "二十分鐘。"),
        ("ko", 2, "이 분입니다."),
        ("ht", 1, "en minit."),
        ("ht", 2, "de minit."),
    ],
)
def test_minutes_agree_with_their_number_in_each_language(
    lang: str, minutes: int, heard: str
) -> None:
    assert words(say_minutes(minutes, lang), lang) == heard


@settings(max_examples=200)
@given(minutes=st.integers(1, MAX_NUMBER), lang=st.sampled_from(LANGUAGES))
def test_every_number_of_minutes_is_spoken_with_catalogue_prompts(minutes: int, lang: str) -> None:
    said = say_minutes(minutes, lang)
    assert CATALOGUE.missing(said) == []
    assert set(said) <= set(all_building_blocks())


@pytest.mark.parametrize("minutes", [0, -1, MAX_NUMBER + 1])
def test_given_no_minutes_or_too_many_then_value_error(minutes: int) -> None:
    with pytest.raises(ValueError, match="minutes"):
        say_minutes(minutes, "en")


def test_building_blocks_list_is_sorted_and_unique() -> None:
    blocks = all_building_blocks()
    assert blocks == sorted(set(blocks))
    assert "numbers/1xx" in blocks
    assert "time/hour/23" in blocks
