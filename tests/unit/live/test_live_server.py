"""Finding a redis-server and writing its config (no process started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from line311.asterisk import install
from line311.asterisk.errors import AsteriskInstallError
from line311.live import server
from line311.live.errors import RedisInstallError
from line311.live.server import RedisInstallation, RedisServer, find_redis, render_conf


def test_the_config_is_loopback_aof_and_no_eviction() -> None:
    conf = render_conf(port=6390, data_dir="/var/lib/line311/redis-main")
    lines = set(conf.splitlines())
    assert {"bind 127.0.0.1", "port 6390", "appendonly yes", "appendfsync everysec"} <= lines
    assert "maxmemory-policy noeviction" in lines
    assert 'dir "/var/lib/line311/redis-main"' in lines
    assert "daemonize no" in lines


def test_given_no_system_binary_when_auto_then_debians_package_goes_into_the_sid_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed: list[tuple[Path, tuple[str, ...], str]] = []

    def fake_install(root: Path, packages: tuple[str, ...], *, binary: str) -> None:
        installed.append((root, packages, binary))
        (root / binary.lstrip("/")).parent.mkdir(parents=True)
        (root / binary.lstrip("/")).touch()

    monkeypatch.setattr(install.shutil, "which", lambda name: None)
    monkeypatch.setattr(install, "install_into_root", fake_install)
    monkeypatch.setattr(server, "_version", lambda argv: "8.0.2")
    inst = find_redis("auto", tmp_path)
    assert installed == [(tmp_path, ("redis-server",), "/usr/bin/redis-server")]
    assert inst == RedisInstallation("chroot", tmp_path, "/usr/bin/redis-server", "8.0.2")
    assert inst.argv("/var/lib/line311/redis-main/redis.conf") == [
        "chroot",
        str(tmp_path),
        "/usr/bin/redis-server",
        "/var/lib/line311/redis-main/redis.conf",
    ]
    assert inst.host_path("/var/lib/line311/x") == tmp_path / "var/lib/line311/x"
    find_redis("chroot", tmp_path)  # installed once: not again
    assert len(installed) == 1


def test_given_the_chroot_when_placed_then_data_lives_inside_the_root(tmp_path: Path) -> None:
    inst = RedisInstallation("chroot", tmp_path / "root", "/usr/bin/redis-server", "8.0.2")
    srv = RedisServer(tmp_path / "state", installation=inst, instance="main")
    assert srv.server_dir == "/var/lib/line311/redis-main"
    assert srv.data_dir == tmp_path / "root/var/lib/line311/redis-main"
    assert srv.pid_file == tmp_path / "state/redis-main.pid"


def test_given_no_binary_and_no_way_to_install_then_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(root: Path, packages: tuple[str, ...], *, binary: str) -> None:
        raise AsteriskInstallError("building the root needs root")

    monkeypatch.setattr(install.shutil, "which", lambda name: None)
    monkeypatch.setattr(install, "install_into_root", refuse)
    with pytest.raises(RedisInstallError, match="needs root"):
        find_redis("auto", tmp_path)
    with pytest.raises(RedisInstallError, match="PATH"):
        find_redis("system", tmp_path)
    with pytest.raises(RedisInstallError, match="redis up"):
        find_redis("chroot", tmp_path, build=False)
