"""install_into_root: other Debian packages join the Asterisk sid root once."""

from __future__ import annotations

from pathlib import Path

import pytest

from line311.asterisk import install


def test_given_the_binary_is_missing_then_apt_installs_the_packages_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "sid-root"
    calls: list[tuple[str, ...]] = []

    def fake_apt(where: Path, packages: tuple[str, ...]) -> None:
        assert where == root
        calls.append(packages)
        (root / "usr/bin").mkdir(parents=True)
        (root / "usr/bin/redis-server").touch()

    monkeypatch.setattr(install, "build_sid_root", lambda r: r.mkdir(exist_ok=True))
    monkeypatch.setattr(install, "_apt_install", fake_apt)
    monkeypatch.setattr(install.os, "geteuid", lambda: 0)
    install.install_into_root(root, ("redis-server",), binary="/usr/bin/redis-server")
    install.install_into_root(root, ("redis-server",), binary="/usr/bin/redis-server")
    assert calls == [("redis-server",)]


def test_given_apt_leaves_no_binary_then_install_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(install, "build_sid_root", lambda r: r.mkdir(exist_ok=True))
    monkeypatch.setattr(install, "_apt_install", lambda where, packages: None)
    monkeypatch.setattr(install.os, "geteuid", lambda: 0)
    with pytest.raises(install.AsteriskInstallError, match="still missing"):
        install.install_into_root(tmp_path / "r", ("redis-server",), binary="/usr/bin/redis-server")
