"""`line311.yaml_doc.safe_load`: the shipped YAML reads the same as with ``yaml.safe_load``,
and only the safe subset is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from line311.config import REPO_ROOT
from line311.yaml_doc import safe_load

SHIPPED = sorted((REPO_ROOT / "content").rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_given_shipped_content_when_read_then_it_is_what_the_pure_python_parser_reads(
    path: Path,
) -> None:
    text = path.read_text(encoding="utf-8")
    assert safe_load(text) == yaml.safe_load(text)


def test_given_a_python_tag_when_read_then_it_is_refused() -> None:
    with pytest.raises(yaml.YAMLError):
        safe_load("!!python/object/apply:os.system ['true']")


def test_given_broken_yaml_when_read_then_a_yaml_error_is_raised() -> None:
    with pytest.raises(yaml.YAMLError):
        safe_load("a: [1, 2")
