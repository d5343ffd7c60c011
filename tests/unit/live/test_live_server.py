"""Finding a redis-server and writing its config (no process started here)."""

from __future__ import annotations

import contextlib
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from line311.asterisk import install
from line311.asterisk.errors import AsteriskInstallError
from line311.live import server
from line311.live.errors import RedisInstallError
from line311.live.server import (
    RedisInstallation,
    RedisServer,
    find_redis,
    ping,
    probe,
    render_conf,
)


def test_the_config_is_loopback_aof_and_no_eviction() -> None:
    conf = render_conf(port=6390, data_dir="/var/lib/line311/redis-main")
    lines = set(conf.splitlines())
    assert {"bind 127.0.0.1", "port 6390", "appendonly yes", "appendfsync everysec"} <= lines
    assert "maxmemory-policy noeviction" in lines
    assert 'dir "/var/lib/line311/redis-main"' in lines
    assert "daemonize no" in lines
    assert not any(line.startswith("requirepass") for line in lines)  # no password: none


def test_given_a_password_then_the_config_requires_it_quoted_whatever_it_holds() -> None:
    conf = render_conf(port=6390, data_dir="/d", password="Tr0ub4dor&3-horse")
    assert 'requirepass "Tr0ub4dor&3-horse"' in conf.splitlines()
    tricky = render_conf(port=6390, data_dir="/d", password='a "b" c\\d\nport 1')
    lines = tricky.splitlines()
    # one line, quotes and backslashes escaped, the newline as \x0a: nothing else is set
    assert 'requirepass "a \\"b\\" c\\\\d\\x0aport 1"' in lines
    assert "port 1" not in lines


def test_given_a_password_then_the_config_file_is_private(tmp_path: Path) -> None:
    inst = RedisInstallation("system", None, "/usr/bin/redis-server", "8.0.2")
    srv = RedisServer(tmp_path, installation=inst, instance="main", password="Tr0ub4dor&3-horse")
    (tmp_path / "redis-main").mkdir()
    (tmp_path / "redis-main" / "redis.conf").write_text("old")
    (tmp_path / "redis-main" / "redis.conf").chmod(0o644)  # e.g. from an older line311
    conf = srv.write_conf()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert 'requirepass "Tr0ub4dor&3-horse"' in conf.read_text()
    assert "Tr0ub4dor" not in " ".join(srv.command())  # the config file only, not argv


def _bulk(stream: BinaryIO) -> bytes:
    """One RESP bulk string: ``$<length>\\r\\n<bytes>\\r\\n``."""
    data = stream.read(int(stream.readline()[1:]))
    stream.read(2)
    return data


class FakeRedis:
    """A socket server that answers the RESP commands it is sent like a Redis whose
    ``requirepass`` is ``password`` would (AUTH, PING), and keeps what it received."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.received: list[list[bytes]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            # a client that leaves with a reply unread (a refused AUTH: probe reads no
            # further) resets the connection; a real Redis shrugs, and so does this one
            with conn, conn.makefile("rb") as stream, contextlib.suppress(ConnectionError):
                authed = not self.password
                while line := stream.readline():
                    args = [_bulk(stream) for _ in range(int(line[1:]))]
                    self.received.append(args)
                    if args[0] == b"AUTH":
                        authed = args[-1] == self.password.encode()
                        conn.sendall(b"+OK\r\n" if authed else b"-WRONGPASS invalid\r\n")
                    elif not authed:
                        conn.sendall(b"-NOAUTH Authentication required.\r\n")
                    else:
                        conn.sendall(b"+PONG\r\n")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake_redis() -> Iterator[FakeRedis]:
    fake = FakeRedis(password='pa ss"word\r\nPING')
    try:
        yield fake
    finally:
        fake.close()


def test_ping_sends_auth_first_as_a_resp_array(fake_redis: FakeRedis) -> None:
    assert ping("127.0.0.1", fake_redis.port, password=fake_redis.password)
    assert fake_redis.received == [[b"AUTH", fake_redis.password.encode()], [b"PING"]]


def test_ping_with_a_username_sends_both(fake_redis: FakeRedis) -> None:
    assert ping("127.0.0.1", fake_redis.port, password=fake_redis.password, username="ops")
    assert fake_redis.received[0] == [b"AUTH", b"ops", fake_redis.password.encode()]


def test_ping_without_or_with_a_wrong_password_says_authentication(
    fake_redis: FakeRedis,
) -> None:
    assert probe("127.0.0.1", fake_redis.port) == (
        False,
        "authentication failed: NOAUTH Authentication required.",
    )
    assert probe("127.0.0.1", fake_redis.port, password="nope") == (
        False,
        "authentication failed: WRONGPASS invalid",
    )
    assert not ping("127.0.0.1", fake_redis.port, password="nope")


def test_ping_of_nothing_listening_is_false() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])  # bound, not listening: refused
        ok, why = probe("127.0.0.1", port, password="x")
    assert not ok
    assert why.startswith("no answer")


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
