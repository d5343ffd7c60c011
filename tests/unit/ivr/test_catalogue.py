"""The prompt catalogue: parsing, validation errors that name prompt and file, the real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from line311.call.values import OTHER_LANGUAGE
from line311.config import REPO_ROOT
from line311.ivr.catalogue import (
    ESPEAK_VOICES,
    LANGUAGES,
    Catalogue,
    CatalogueError,
    build_catalogue,
    language_for_digit,
    load_catalogue,
    parse_prompts,
    spoken_language,
)
from line311.ivr.errors import IvrError
from line311.ivr.say import all_building_blocks

CATALOGUE_DIR = REPO_ROOT / "content" / "catalogue"


def texts(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {lang: f"hello {lang}" for lang in LANGUAGES}
    base.update(overrides)
    return base


def test_languages_are_in_the_order_of_the_language_menu_digits() -> None:
    assert LANGUAGES == ("en", "es", "cmn", "yue", "ru", "ko", "ht")
    assert [language_for_digit(str(d)) for d in range(1, 8)] == list(LANGUAGES)
    assert language_for_digit("0") is None
    assert language_for_digit("8") is None
    assert language_for_digit("#") is None
    assert language_for_digit("12") is None


def test_every_language_has_an_espeak_voice_and_mandarin_reads_pinyin() -> None:
    assert set(ESPEAK_VOICES) == set(LANGUAGES)
    assert ESPEAK_VOICES["cmn"] == "cmn-latn-pinyin"
    assert ESPEAK_VOICES["es"] == "es-419"


def test_given_plain_strings_when_parsed_then_tts_text_equals_display_text() -> None:
    prompts = parse_prompts({"prompts": {"greeting": texts()}}, "core.yaml")
    prompt = prompts["greeting"]
    assert prompt.text("ru") == "hello ru"
    assert prompt.tts("ru") == "hello ru"
    assert prompt.source == "core.yaml"


def test_given_a_tts_override_when_parsed_then_engine_text_differs_from_display_text() -> None:
    data = {"prompts": {"digits/1": texts(cmn={"text": "幺", "tts": "yao1"})}}
    prompt = parse_prompts(data, "core.yaml")["digits/1"]
    assert prompt.text("cmn") == "幺"
    assert prompt.tts("cmn") == "yao1"


def test_given_text_only_mapping_then_tts_defaults_to_text() -> None:
    data = {"prompts": {"x": texts(ko={"text": "안녕"})}}
    assert parse_prompts(data, "a.yaml")["x"].tts("ko") == "안녕"


def test_given_a_number_value_then_it_is_read_as_text() -> None:
    data = {"prompts": {"x": texts(en=311)}}
    assert parse_prompts(data, "a.yaml")["x"].text("en") == "311"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prompts": {"greeting": {"en": "hi"}}}, "prompt 'greeting' in f.yaml: missing language"),
        ({"prompts": {"greeting": texts(fr="salut")}}, "unknown language(s) fr"),
        ({"prompts": {"Greeting": texts()}}, "prompt 'Greeting' in f.yaml: id must match"),
        ({"prompts": {"a//b": texts()}}, "prompt 'a//b' in f.yaml: id must match"),
        ({"prompts": {"../etc": texts()}}, "id must match"),
        ({"prompts": {"a b": texts()}}, "id must match"),
        ({"prompts": {"x": texts(en="  ")}}, "prompt 'x' language 'en' in f.yaml: empty text"),
        ({"prompts": {"x": texts(en=True)}}, "expected a string"),
        ({"prompts": {"x": texts(en={"text": "a", "voice": "b"})}}, "unknown keys ['voice']"),
        ({"prompts": {"x": texts(en={"tts": "a"})}}, "must be strings"),
        ({"prompts": {"x": "hello"}}, "expected a mapping of language to text"),
        ({"prompts": ["x"]}, "f.yaml: 'prompts' must be a mapping"),
        ({"menus": {}}, "f.yaml: unknown top-level keys ['menus']"),
        (["x"], "f.yaml: expected a mapping"),
    ],
)
def test_given_bad_catalogue_data_when_parsed_then_the_error_names_prompt_and_file(
    data: Any, message: str
) -> None:
    with pytest.raises(CatalogueError) as info:
        parse_prompts(data, "f.yaml")
    assert message in str(info.value)
    assert isinstance(info.value, IvrError)


def test_given_an_empty_document_then_it_has_no_prompts() -> None:
    assert parse_prompts(None, "empty.yaml") == {}
    assert parse_prompts({"prompts": None}, "empty.yaml") == {}


def test_given_the_same_id_in_two_files_when_merged_then_both_files_are_named() -> None:
    docs = [
        ("core.yaml", {"prompts": {"goodbye": texts()}}),
        ("ivr.yaml", {"prompts": {"goodbye": texts()}}),
    ]
    with pytest.raises(
        CatalogueError, match=r"'goodbye' is defined twice: in core.yaml and in ivr.yaml"
    ):
        build_catalogue(docs)


def test_catalogue_is_a_read_only_mapping_sorted_by_id() -> None:
    cat = build_catalogue(
        [("a.yaml", {"prompts": {"b": texts(), "a": texts(), "digits/7": texts()}})]
    )
    assert isinstance(cat, Catalogue)
    assert list(cat) == ["a", "b", "digits/7"]
    assert len(cat) == 3
    assert cat.text("digits/7", "ht") == "hello ht"
    assert cat.missing(["a", "zzz", "zzz", "b"]) == ["zzz"]
    with pytest.raises(KeyError, match="unknown prompt id 'nope'"):
        cat["nope"]


def test_given_a_directory_when_loaded_then_every_yaml_file_is_merged(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(
        "prompts:\n  a: {en: a, es: a, cmn: a, yue: a, ru: a, ko: a, ht: a}\n"
    )
    (tmp_path / "two.yaml").write_text(
        "prompts:\n  b: {en: b, es: b, cmn: b, yue: b, ru: b, ko: b, ht: b}\n"
    )
    (tmp_path / "notes.txt").write_text("ignored")
    cat = load_catalogue(tmp_path)
    assert list(cat) == ["a", "b"]
    assert cat["b"].source == "two.yaml"


def test_given_broken_yaml_when_loaded_then_the_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("prompts: [unclosed\n")
    with pytest.raises(CatalogueError, match=r"bad\.yaml: invalid YAML"):
        load_catalogue(tmp_path)


def test_given_no_directory_or_no_files_then_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "nope")
    with pytest.raises(CatalogueError, match=r"no \*\.yaml catalogue files"):
        load_catalogue(tmp_path)


# ------------------------------------------------------------------ the real catalogue


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return load_catalogue(CATALOGUE_DIR)


def test_the_real_catalogue_has_the_foundation_prompts(real: Catalogue) -> None:
    for pid in ("greeting", "apology", "goodbye", "invalid_choice", "transfer_representative"):
        assert pid in real
    assert "911" in real.text("greeting", "en")
    assert "emergency" in real.text("apology", "en")


def test_the_real_catalogue_has_a_whisper_for_every_language_a_queued_call_can_have(
    real: Catalogue,
) -> None:
    """The CCR's whisper names the call's language: the seven, and ``und`` for a caller of
    none of them (0 at the language menu, with the interpreter line)."""
    for code in (*LANGUAGES, OTHER_LANGUAGE):
        assert f"whisper/lang/{code}" in real, code
    assert real.text("whisper/lang/und", "en") == "Other language."
    assert real.text("language_other", "en") == "For all other languages, press 0."


def test_spoken_language_is_the_callers_own_or_english_for_any_other() -> None:
    assert [spoken_language(code) for code in LANGUAGES] == list(LANGUAGES)
    assert spoken_language(OTHER_LANGUAGE) == "en"
    assert spoken_language("ar") == "en"


def test_the_real_catalogue_has_every_building_block_of_say(real: Catalogue) -> None:
    assert real.missing(all_building_blocks()) == []


def test_mandarin_engine_text_is_pinyin_not_characters(real: Catalogue) -> None:
    for pid in real:
        tts = real.tts(pid, "cmn")
        assert all(ord(ch) < 0x2E80 for ch in tts), f"{pid}: {tts!r} is not pinyin"


def test_emergency_numbers_are_spelled_for_the_engine(real: Catalogue) -> None:
    for lang in LANGUAGES:
        assert "911" not in real.tts("greeting", lang), lang
        assert "311" not in real.tts("apology", lang), lang


@pytest.mark.parametrize(
    ("pid", "lang", "text"),
    [
        ("numbers/21", "es", "veintiuno"),
        ("numbers/16", "es", "dieciséis"),
        ("numbers/500", "es", "quinientos"),
        ("numbers/1xx", "es", "ciento"),
        ("numbers/100", "es", "cien"),
        ("numbers/40", "ru", "сорок"),
        ("numbers/200", "ru", "двести"),
        ("numbers/2000", "ru", "две тысячи"),
        ("numbers/5000", "ru", "пять тысяч"),
        ("numbers/11", "ko", "십일"),
        ("numbers/20", "ko", "이십"),
        ("numbers/10", "cmn", "十"),
        ("numbers/2000", "cmn", "两千"),
        ("numbers/21", "ht", "venteyen"),
        ("numbers/75", "ht", "swasannkenz"),
        ("numbers/80", "ht", "katreven"),
        ("numbers/98", "ht", "katrevendizuit"),
        ("digits/1", "cmn", "幺"),
        ("digits/0", "ko", "공"),
        ("months/june", "ko", "유월"),
        ("months/october", "ko", "시월"),
        ("months_of/march", "ru", "марта"),
        ("months_of/march", "es", "de marzo"),
        ("time/hour/1", "es", "la una"),
        ("time/hour/14", "ko", "오후 두 시"),
        ("time/hour/14", "cmn", "下午两点"),
        ("time/hour/21", "ru", "двадцать один час"),
        ("time/hour/22", "ru", "двадцать два часа"),
        ("time/hour/12", "ht", "midi"),
    ],
)
def test_building_blocks_use_each_languages_own_words(
    real: Catalogue, pid: str, lang: str, text: str
) -> None:
    assert real.text(pid, lang) == text


# ------------------------------------------------------------------ properties

_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)
_IDS = st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)
_TEXT = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")


@settings(max_examples=200)
@given(
    entries=st.dictionaries(
        _IDS, st.fixed_dictionaries(dict.fromkeys(LANGUAGES, _TEXT)), min_size=1, max_size=5
    )
)
def test_any_well_formed_document_parses_and_keeps_every_text(
    entries: dict[str, dict[str, str]],
) -> None:
    cat = build_catalogue([("p.yaml", {"prompts": entries})])
    assert sorted(cat) == sorted(entries)
    for pid, by_lang in entries.items():
        for lang, text in by_lang.items():
            assert cat.text(pid, lang) == text.strip()


@settings(max_examples=200)
@given(pid=st.text(min_size=1, max_size=12))
def test_an_id_outside_the_alphabet_is_refused_with_its_name(pid: str) -> None:
    ok = all(
        seg and set(seg) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-") for seg in pid.split("/")
    )
    data = {"prompts": {pid: texts()}}
    if ok:
        assert list(parse_prompts(data, "p.yaml")) == [pid]
    else:
        with pytest.raises(CatalogueError) as info:
            parse_prompts(data, "p.yaml")
        assert repr(pid) in str(info.value)


def test_a_trailing_newline_does_not_sneak_an_id_past_the_alphabet() -> None:
    with pytest.raises(CatalogueError):
        parse_prompts({"prompts": {"0\n": texts()}}, "p.yaml")
