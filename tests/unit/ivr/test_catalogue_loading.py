"""Loading the prompt catalogue from disk: what is named when a file cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from line311.ivr.catalogue import CatalogueError, load_catalogue

PROMPT = "prompts:\n  hello: {en: a, es: b, cmn: c, yue: d, ru: e, ko: f, ht: g}\n"


def test_a_yaml_path_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(PROMPT)
    (tmp_path / "folder.yaml").mkdir()  # globbed like a file, but reading it fails
    with pytest.raises(CatalogueError, match=r"cannot read .*folder\.yaml"):
        load_catalogue(tmp_path)


def test_a_loaded_catalogue_says_how_many_prompts_it_holds(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(PROMPT)
    cat = load_catalogue(tmp_path)
    assert repr(cat) == "Catalogue(1 prompts)"
    assert cat.text("hello", "ko") == "f"
