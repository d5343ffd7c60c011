"""Asterisk sends no DNS query while it takes calls (issue 13, point 1).

A debootstrapped root has no hosts file, so Asterisk resolved its own host name and then
``A.ROOT-SERVERS.NET`` over DNS for every call's media, on PJSIP threads, and jammed for good
at ~20 calls/s where DNS was slow. `line311.asterisk.install.write_hosts` fixes the root; this
test watches the real Asterisk's system calls (strace, ``-yy`` names each socket's peer) while
SIPp makes 100 calls, and counts datagrams sent to port 53.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from line311.sim.sipp import free_udp_port
from tests.conftest import AsteriskInstance
from tests.e2e.stack import wait_until

pytestmark = pytest.mark.asterisk

CALLS = 100
_DNS = re.compile(r"->[^\]>]*:53\]|htons\(53\)")


def test_given_100_calls_when_asterisk_answers_them_then_it_sends_no_dns_query(
    asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    strace, sipp = shutil.which("strace"), shutil.which("sipp")
    assert strace, "strace is installed by `make setup`"
    assert sipp, "sipp is installed by `make setup`"
    pid = asterisk_instance.manager.read_pid()
    assert pid is not None
    trace, log = tmp_path / "asterisk.strace", tmp_path / "strace.log"
    with log.open("wb") as err:
        watch = [strace, "-f", "-yy", "-e", "trace=sendto,sendmmsg,sendmsg", "-o", str(trace)]
        tracer = subprocess.Popen(
            [*watch, "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until(lambda: "attached" in log.read_text(), 20, "strace attached to Asterisk")
        argv = [sipp, f"127.0.0.1:{asterisk_instance.sip_port}", "-sn", "uac", "-s", "311"]
        argv += ["-m", str(CALLS), "-r", "20", "-l", "40", "-d", "1000"]  # 20 calls/s, 1 s each
        argv += ["-p", str(free_udp_port()), "-timeout", "120s", "-nostdin"]
        argv += ["-trace_err", "-error_file", str(tmp_path / "sipp-errors.log")]
        calls = subprocess.run(
            argv,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=150,
        )
        assert calls.returncode == 0, f"SIPp: exit {calls.returncode}, some of {CALLS} calls failed"
    finally:
        tracer.terminate()
        tracer.wait(timeout=20)
    lines = trace.read_text(errors="replace").splitlines()
    assert len(lines) > CALLS, "strace saw the calls' SIP and RTP traffic"
    queries = [line for line in lines if _DNS.search(line)]
    assert queries == [], f"{len(queries)} DNS datagrams, e.g. {queries[:3]}"
