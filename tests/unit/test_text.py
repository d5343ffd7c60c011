"""Safe text (`line311.text`): what is refused, where, and what stays allowed."""

from __future__ import annotations

import pytest

from line311.text import UnsafeText, find_unsafe, is_safe_text, storable_text


@pytest.mark.parametrize("bad", ["\x00", "a\x01", "\x08", "\x0b", "\x0c", "\x1b[0m", "\x1f",
                                 "\ud800", "x\udfff", "\ufffe", "\uffff"])  # fmt: skip
def test_controls_lone_surrogates_and_non_characters_are_unsafe(bad: str) -> None:
    assert not is_safe_text(bad)


@pytest.mark.parametrize("good", ["", "tab\there", "cr\rlf\n", "café", "😀 emoji", "\u2028"])
def test_tab_cr_lf_and_real_unicode_are_safe(good: str) -> None:
    assert is_safe_text(good)


def test_find_unsafe_names_where_and_never_echoes_the_value() -> None:
    with pytest.raises(UnsafeText) as info:
        find_unsafe({"nodes": ["ok", "secret\x00"]}, "path")
    assert info.value.where == "path.nodes[1]"
    assert "secret" not in str(info.value)


def test_find_unsafe_checks_keys_depth_numbers_and_a_key_guard() -> None:
    with pytest.raises(UnsafeText, match="key"):
        find_unsafe({"a\x00": 1})
    with pytest.raises(UnsafeText, match="deeper"):
        find_unsafe([[[["x"]]]], max_depth=2)
    with pytest.raises(UnsafeText, match="finite"):
        find_unsafe({"n": float("inf")})
    with pytest.raises(UnsafeText, match="caller number"):
        find_unsafe({"x": {"caller_id": "1"}}, "path", bad_key=lambda k: k.startswith("caller"))
    find_unsafe({"fine": [1, 2.5, None, True, "text"]})


def test_storable_text_replaces_unsafe_characters_and_cuts_to_the_limit() -> None:
    assert storable_text("a1", 128) == "a1"
    assert storable_text("a\x00b\ud800", 128) == "a\ufffdb\ufffd"
    assert storable_text("tab\tand\nnewline", 128) == "tab\tand\nnewline"
    cut = storable_text("a" * 300, 128)
    assert len(cut) == 128
    assert cut == "a" * 127 + "\u2026"
    assert storable_text("a" * 128, 128) == "a" * 128
