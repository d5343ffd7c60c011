"""The chroot's hosts file: Asterisk resolves its host name without DNS (issue: per-call DNS jam)."""

from __future__ import annotations

from pathlib import Path

from line311.asterisk.install import hosts_text, write_hosts


def test_given_a_root_without_hosts_when_written_then_localhost_and_the_host_name_resolve_locally(
    tmp_path: Path,
) -> None:
    (tmp_path / "etc").mkdir()
    write_hosts(tmp_path, "box-7")
    lines = (tmp_path / "etc" / "hosts").read_text().splitlines()
    v4 = next(line.split() for line in lines if line.startswith("127.0.0.1"))
    v6 = next(line.split() for line in lines if line.startswith("::1"))
    assert {"localhost", "box-7"} <= set(v4[1:])
    assert {"localhost", "box-7"} <= set(v6[1:])


def test_given_the_same_host_when_written_twice_then_the_file_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    write_hosts(tmp_path, "box-7")
    hosts = tmp_path / "etc" / "hosts"
    before = hosts.stat().st_mtime_ns
    write_hosts(tmp_path, "box-7")
    assert hosts.stat().st_mtime_ns == before
    write_hosts(tmp_path, "box-8")  # the cached root moved to another machine
    assert "box-8" in hosts.read_text()
    assert not list((tmp_path / "etc").glob("*tmp*"))


def test_given_the_host_is_called_localhost_then_the_name_is_not_repeated() -> None:
    line = next(x for x in hosts_text("localhost").splitlines() if x.startswith("127."))
    assert line.split() == ["127.0.0.1", "localhost"]
