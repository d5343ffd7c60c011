"""`AsteriskManager.sync_sounds`: the prompt library into Asterisk's view of it, which every
instance of an installation shares while alert audio comes and goes (`line311.messaging.recording`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from line311.asterisk.install import Installation
from line311.asterisk.manager import SOUNDS_ASTERISK_DIR, AsteriskManager
from line311.config import load_settings


def _manager(tmp_path: Path) -> tuple[AsteriskManager, Path]:
    root = tmp_path / "root"
    inst = Installation("chroot", root, "/usr/sbin/asterisk", "/usr/lib/asterisk/modules", "22")
    mgr = AsteriskManager(load_settings(state_dir=tmp_path / "state"), installation=inst)
    return mgr, inst.host_path(SOUNDS_ASTERISK_DIR)


def _library(tmp_path: Path) -> Path:
    library = tmp_path / "library"
    (library / "en" / "alerts").mkdir(parents=True)
    (library / "en" / "greeting.wav").write_bytes(b"RIFF greeting")
    (library / "en" / "alerts" / ".20260101-ab.x1y2.wav").write_bytes(b"half an alert")
    return library


def test_given_a_library_then_new_files_are_copied_once_and_hidden_files_never(
    tmp_path: Path,
) -> None:
    mgr, view = _manager(tmp_path)
    library = _library(tmp_path)

    assert mgr.sync_sounds(library) == 1
    assert (view / "en" / "greeting.wav").read_bytes() == b"RIFF greeting"
    assert not (view / "en" / "alerts" / ".20260101-ab.x1y2.wav").exists()
    assert mgr.sync_sounds(library) == 0
    assert sorted(p.name for p in view.rglob("*") if p.is_file()) == ["greeting.wav"]


def test_given_a_file_removed_during_the_walk_then_the_sync_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mgr, view = _manager(tmp_path)
    library = _library(tmp_path)
    gone = library / "en" / "alerts" / "20260101-cd.wav"
    gone.write_bytes(b"an alert being unpublished")
    real_stat = Path.stat

    def stat(self: Path, **kw: bool) -> os.stat_result:
        if self == gone:
            gone.unlink(missing_ok=True)  # another instance unpublishes it right now
        return real_stat(self, **kw)

    monkeypatch.setattr(Path, "stat", stat)

    assert mgr.sync_sounds(library) == 1
    assert (view / "en" / "greeting.wav").is_file()
    assert not (view / "en" / "alerts" / "20260101-cd.wav").exists()
