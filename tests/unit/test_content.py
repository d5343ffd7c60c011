"""content/ is the one place for shipped data: every file is indexed and the settings point there."""

from __future__ import annotations

from pathlib import Path

import line311
from line311.config import REPO_ROOT, Settings
from line311.ivr.flow import default_flow_path

CONTENT = REPO_ROOT / "content"


def test_the_package_content_dir_is_the_repositorys_content_directory() -> None:
    assert CONTENT.resolve() == line311.CONTENT_DIR


def test_every_shipped_data_file_is_listed_in_the_content_readme() -> None:
    index = (CONTENT / "README.md").read_text(encoding="utf-8")
    files = [p for p in CONTENT.rglob("*") if p.is_file() and p.name != "README.md"]
    assert files
    missing = [str(p.relative_to(CONTENT)) for p in files if p.name not in index]
    assert missing == []


def test_the_data_settings_and_the_default_flow_point_into_content() -> None:
    fields = Settings.model_fields
    for name in ("content_file", "agents_file", "catalogue_dir"):
        default = fields[name].default
        assert isinstance(default, Path)
        assert default.is_relative_to(line311.CONTENT_DIR), name
        assert default.exists(), name
    assert default_flow_path().is_relative_to(line311.CONTENT_DIR)
    assert default_flow_path().is_file()
