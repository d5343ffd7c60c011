"""Where the Asterisk that line311 drives comes from.

Two kinds of installation, chosen by ``asterisk_mode``:

* **system** -- an ``asterisk`` binary >= 20 on this machine's PATH, run as is.
* **chroot** -- Debian 12 has no Asterisk, but Debian sid does. We build a minimal sid root
  once with ``debootstrap --variant=minbase``, install Debian's ``asterisk`` package into it,
  and cache it outside the repo (``<cache_dir>/sid-root``). No mounts are needed: the chroot
  shares the host's loopback, so SIP/RTP/HTTP ports are reachable from host processes.

Every path Asterisk sees is an *Asterisk path*; `Installation.host_path` maps it to the path
the controller uses to write configs, prompts and read recordings (identity for system mode,
``<root>/<path>`` for the chroot).

Name resolution: a debootstrapped root has no ``/etc/hosts``. Asterisk looks up its own host
name for every call's media (``ast_find_ourip``); without a hosts file that is a DNS query for
the host name and then for ``A.ROOT-SERVERS.NET``, on a PJSIP thread, per call. Where DNS is
slow or absent those threads block and the whole server jams at ~20 calls/s. `write_hosts`
gives the root a hosts file that answers the host name and ``localhost`` locally, on every
start (the host name can differ from the machine that built the cached root).

The build is guarded by a lock file, done in a temporary directory and renamed into place
only when complete (a stamp file marks a finished root), so an interrupted build never leaves
a half-made root that looks usable.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from line311.asterisk.errors import AsteriskInstallError
from line311.asterisk.render import write_if_changed

__all__ = [
    "Installation",
    "Package",
    "Packaged",
    "argv_in",
    "build_sid_root",
    "debian_mirror",
    "find_installation",
    "find_packaged",
    "host_path_in",
    "install_into_root",
    "program_version",
    "system_asterisk_version",
    "write_hosts",
]

logger = logging.getLogger(__name__)

MIN_MAJOR_VERSION = 20
STAMP = ".line311-root-ready"
PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm")
_APT_OPTS = ("-o", "Acquire::Check-Valid-Until=false", "-o", "APT::Get::Assume-Yes=true")


def host_path_in(root: Path | None, path: str | Path) -> Path:
    """Path on the host of a file a daemon run in ``root`` (None: no chroot) sees as ``path``."""
    p = Path(path)
    if not p.is_absolute():
        raise ValueError(f"a daemon's path must be absolute: {p}")
    if root is None:
        return p
    return root / p.relative_to("/")


def argv_in(root: Path | None, program: str, *args: str) -> list[str]:
    """Command line that runs ``program`` (a path inside ``root``) with ``args``."""
    if root is None:
        return [program, *args]
    return ["chroot", str(root), program, *args]


def program_version(argv: list[str], pattern: str) -> str | None:
    """The first group of ``pattern`` in what ``argv`` prints (its version), or None."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(pattern, out)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class Installation:
    """A daemon we can run (Asterisk, Kamailio): the binary, its module dir, how paths map."""

    mode: Literal["system", "chroot"]
    root: Path | None  # the chroot, None for system mode
    binary: str  # the daemon's path of the binary
    modules_dir: str  # the daemon's path of its modules directory
    version: str

    def host_path(self, asterisk_path: str | Path) -> Path:
        """Path on the host of a file the daemon sees as ``asterisk_path`` (absolute)."""
        return host_path_in(self.root, asterisk_path)

    def argv(self, *args: str) -> list[str]:
        """Command line that runs the binary with ``args``."""
        return argv_in(self.root, self.binary, *args)

    def run(self, program: str, *args: str) -> list[str]:
        """Command line that runs another ``program`` of the installation with ``args``."""
        return argv_in(self.root, program, *args)


def system_asterisk_version() -> str | None:
    """Version of an Asterisk on PATH (e.g. '22.10.1'), or None when there is none."""
    binary = shutil.which("asterisk")
    if binary is None:
        return None
    return program_version([binary, "-V"], r"Asterisk\s+(\S+)")


def _major(version: str) -> int:
    match = re.match(r"(\d+)", version)
    return int(match.group(1)) if match else 0


def _modules_dir(root: Path | None) -> str:
    base = root or Path("/")
    for candidate in (
        "usr/lib/x86_64-linux-gnu/asterisk/modules",
        "usr/lib/aarch64-linux-gnu/asterisk/modules",
        "usr/lib/asterisk/modules",
        "usr/lib64/asterisk/modules",
    ):
        if (base / candidate / "res_ari.so").exists():
            return "/" + candidate
    found = sorted(base.glob("usr/lib*/**/asterisk/modules/res_ari.so"))
    if found:
        return "/" + str(found[0].parent.relative_to(base))
    raise AsteriskInstallError(f"no Asterisk modules directory (res_ari.so) under {base}")


def _chroot_version(root: Path) -> str:
    status = root / "var/lib/dpkg/status"
    text = status.read_text(errors="replace") if status.exists() else ""
    match = re.search(
        r"Package: asterisk\nStatus: install ok installed\n(?:.*\n)*?Version: (\S+)", text
    )
    if not match:
        return "unknown"
    version = match.group(1)
    return re.split(r"[~+-]", version.split(":", 1)[-1])[0]


def find_installation(
    mode: Literal["auto", "system", "chroot"], root: Path, *, build: bool = True
) -> Installation:
    """Locate (and, for the chroot, build once) the Asterisk to run."""
    if mode in ("auto", "system"):
        version = system_asterisk_version()
        if version is not None and _major(version) >= MIN_MAJOR_VERSION:
            binary = shutil.which("asterisk") or "/usr/sbin/asterisk"
            return Installation("system", None, binary, _modules_dir(None), version)
        if mode == "system":
            found = f"found {version}" if version else "none on PATH"
            raise AsteriskInstallError(
                f"asterisk_mode=system needs Asterisk >= {MIN_MAJOR_VERSION} ({found})"
            )
    if not (root / STAMP).exists():
        if not build:
            raise AsteriskInstallError(
                f"no Asterisk root at {root}; run `line311 asterisk up` to build it"
            )
        build_sid_root(root)
    write_hosts(root)
    return Installation(
        "chroot", root, "/usr/sbin/asterisk", _modules_dir(root), _chroot_version(root)
    )


def hosts_text(hostname: str) -> str:
    """An ``/etc/hosts`` that resolves ``localhost`` and ``hostname`` without DNS."""
    names = " ".join(dict.fromkeys(n for n in ("localhost", hostname) if n))
    return (
        "# written by line311: Asterisk resolves these without DNS on every call\n"
        f"127.0.0.1\t{names}\n"
        f"::1\t{names} ip6-localhost ip6-loopback\n"
    )


def write_hosts(root: Path, hostname: str | None = None) -> None:
    """Give the chroot a hosts file for this machine's host name (when it differs)."""
    text = hosts_text(hostname if hostname is not None else socket.gethostname())
    path = root / "etc" / "hosts"
    try:
        write_if_changed(path, text, 0o644)
    except OSError as exc:
        raise AsteriskInstallError(f"cannot write {path}: {exc}") from None


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (so the build reaches what apt reaches)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(https?://\S+/debian)/?(\s|$)", text):
            url = match.group(1)
            if "security" not in url:
                return url
    return "http://deb.debian.org/debian"


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    logger.info("%s: %s", what, " ".join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise AsteriskInstallError(f"{what} failed (exit {proc.returncode}):\n{tail}")


_APT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LANG": "C.UTF-8",
}


def _apt_install(root: Path, packages: tuple[str, ...]) -> None:
    what = " ".join(packages)
    _run(["chroot", str(root), "apt-get", *_APT_OPTS, "update"], "apt-get update (sid)", _APT_ENV)
    _run(
        [
            "chroot",
            str(root),
            "apt-get",
            *_APT_OPTS,
            "install",
            "--no-install-recommends",
            *packages,
        ],
        f"apt-get install {what} (sid)",
        _APT_ENV,
    )
    _run(["chroot", str(root), "apt-get", "clean"], "apt-get clean (sid)", _APT_ENV)


def install_into_root(root: Path, packages: tuple[str, ...], *, binary: str) -> None:
    """Add Debian ``packages`` to the sid root (building the root first if needed), unless
    ``binary`` (a path inside the root, e.g. ``/usr/bin/redis-server``) is there already.

    Other services line311 runs from Debian sid (Redis) share the Asterisk root this way.
    """
    build_sid_root(root)
    target = root / binary.lstrip("/")
    if target.exists():
        return
    with _locked(root.parent / f".{root.name}.lock"):
        if target.exists():
            return
        if os.geteuid() != 0:
            raise AsteriskInstallError(f"installing {' '.join(packages)} into {root} needs root")
        _apt_install(root, packages)
        if not target.exists():
            raise AsteriskInstallError(f"{binary} is still missing from {root} after apt-get")


def build_sid_root(root: Path, mirror: str | None = None) -> None:
    """Build a Debian sid root with Asterisk at ``root`` (once; concurrent callers wait)."""
    with _locked(root.parent / f".{root.name}.lock"):
        if (root / STAMP).exists():
            return
        if os.geteuid() != 0:
            raise AsteriskInstallError(
                "building the Asterisk root needs root (debootstrap + chroot); "
                "install a system Asterisk >= 20 or run as root"
            )
        if shutil.which("debootstrap") is None:
            raise AsteriskInstallError("debootstrap is not installed (apt-get install debootstrap)")
        mirror = mirror or debian_mirror()
        tmp = root.with_name(root.name + ".building")
        if tmp.exists():
            shutil.rmtree(tmp)
        started = time.monotonic()
        _run(
            ["debootstrap", "--variant=minbase", "sid", str(tmp), mirror],
            "debootstrap sid",
        )
        _apt_install(tmp, PACKAGES)
        (tmp / STAMP).write_text(f"built {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
        logger.info("Asterisk root ready at %s in %.0f s", root, time.monotonic() - started)


@dataclass(frozen=True, slots=True)
class Package:
    """Another daemon line311 runs (Redis, Kamailio) and the Debian package it comes in."""

    program: str  # its name on PATH: ``redis-server``
    setting: str  # its ``<setting>_mode`` and ``line311 <setting> up``: ``redis``
    packages: tuple[str, ...]  # Debian's packages that hold it
    chroot_binary: str  # its path inside the sid root


@dataclass(frozen=True, slots=True)
class Packaged:
    """A program found by `find_packaged`: on PATH (``root`` None) or in the sid root."""

    root: Path | None
    binary: str  # the path the program sees (inside the root for the chroot)
    version: str

    @property
    def mode(self) -> Literal["system", "chroot"]:
        return "system" if self.root is None else "chroot"


def find_packaged(
    package: Package,
    mode: Literal["auto", "system", "chroot"],
    root: Path,
    *,
    version: Callable[[list[str]], str | None],
    build: bool = True,
) -> Packaged:
    """Locate ``package``'s program on PATH (``auto``, ``system``) when ``version`` can read
    its version, else install its Debian packages into the sid root once (``auto``,
    ``chroot``); raise `AsteriskInstallError` when neither can be."""
    program, setting, binary_in_root = package.program, package.setting, package.chroot_binary
    if mode in ("auto", "system"):
        binary = shutil.which(program)
        found = version([binary]) if binary else None
        if binary is not None and found is not None:
            return Packaged(None, binary, found)
        if mode == "system":
            raise AsteriskInstallError(f"{setting}_mode=system needs a {program} on PATH")
    if not (root / binary_in_root.lstrip("/")).exists():
        if not build:
            raise AsteriskInstallError(
                f"no {program} in {root}; run `line311 {setting} up` to install it"
            )
        install_into_root(root, package.packages, binary=binary_in_root)
    found = version(["chroot", str(root), binary_in_root]) or "unknown"
    return Packaged(root, binary_in_root, found)
