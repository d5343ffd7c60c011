"""A new call's Asterisk that answers after Kamailio failed the call over
(``route[LATE_ANSWER]`` of ``kamailio_conf/kamailio.cfg``): Debian's Kamailio 6.1 with
line311's config, two SIPp media servers in the Asterisks' places. Only the SIP edge is under
test; SIPp stands in for an Asterisk because a real one cannot be made, on demand, to answer
200 OK with no 100 Trying before it (as a loaded one once did, docs/scaling.md).

The late one must not keep a call of its own: the caller has the other's answer, and Kamailio
ends the late answer itself (ACK, then BYE, with the late dialog's tags)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from line311.asterisk.fleet import asterisk_fleet
from line311.kamailio.manager import KamailioManager
from line311.sim.sipp import SippPhone, free_udp_port
from tests.conftest import _test_settings, fleet_ports
from tests.fixtures.kamailio import edge_read, run_sipp, running_kamailio
from tests.fixtures.polling import wait_until

pytestmark = pytest.mark.integration

SCENARIO = Path(__file__).parent.parent / "fixtures" / "sipp" / "media_server.xml"
FAILOVER = 1.5
"""``kamailio_failover_timeout`` here: short, so the test is."""
LATE_MS = 3_000
"""How long the late media server says nothing to a new call's INVITE."""


@dataclass
class Edge:
    kamailio: KamailioManager
    late: SippPhone
    prompt: SippPhone

    @property
    def sip_port(self) -> int:
        return self.kamailio.settings.sip_port


TRYING = """<send>
    <![CDATA[
      SIP/2.0 100 Trying
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>"""


def _media_server(workdir: Path, port: int, silent_ms: int, *, trying: bool = False) -> SippPhone:
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / "media_server.xml"
    text = SCENARIO.read_text().replace("@SILENT_MS@", str(max(1, silent_ms)))
    scenario.write_text(text.replace("@PROVISIONAL@", TRYING if trying else ""))
    argv = [
        shutil.which("sipp") or "sipp", "-sf", str(scenario),
        "-i", "127.0.0.1", "-p", str(port),
        "-mi", "127.0.0.1", "-mp", str(free_udp_port(even=True)),
        "-aa", "-m", "100000",  # -aa: Kamailio's OPTIONS probes are answered
        "-trace_msg", "-message_file", str(workdir / "messages.log"),
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        "-nostdin",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return SippPhone(proc, workdir, port)


@contextlib.contextmanager
def _edge(tmp_path: Path, *, other_ms: int = 0, other_trying: bool = False) -> Iterator[Edge]:
    """Kamailio over two media servers: the first says nothing for `LATE_MS`, the other for
    `other_ms` (after a 100 Trying, with `other_trying`)."""
    settings = _test_settings(
        tmp_path / "state",
        asterisk_instance=f"klate{id(tmp_path)}",
        kamailio_failover_timeout=FAILOVER,
        **fleet_ports(2),
    )
    first, second = asterisk_fleet(settings)
    late = _media_server(tmp_path / "late", first.sip_port, LATE_MS)
    prompt = _media_server(tmp_path / "prompt", second.sip_port, other_ms, trying=other_trying)
    try:
        with running_kamailio(settings) as kamailio:
            wait_until(
                lambda: all(d.active for d in kamailio.destinations()), 10, "both media servers up"
            )
            yield Edge(kamailio, late, prompt)
    finally:
        late.kill()
        prompt.kill()


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    with _edge(tmp_path) as made:
        yield made


def _edge_counts(edge: Edge) -> dict[str, int]:
    """Kamailio's edge counters as the controller reads them for /metrics."""
    return edge_read(edge.kamailio).values


def _by_call(log: str) -> dict[str, list[str]]:
    """Each Call-ID's SIP messages in a SIPp trace, as 'sent ...'/'received ...' first lines."""
    calls: dict[str, list[str]] = {}
    for block in log.split("\n-----")[1:]:
        direction = re.search(r"UDP message (sent|received)", block)
        first = re.search(r"\n\n([^\n]+)", block)
        call_id = re.search(r"\nCall-ID: *([^\n]+)", block)
        if direction and first and call_id:
            line = f"{direction.group(1)} {first.group(1).strip()}"
            calls.setdefault(call_id.group(1).strip(), []).append(line)
    return calls


@pytest.mark.parametrize(
    "call_ids",
    [
        pytest.param("%u-%p@%s", id="plain"),
        # a Call-ID is a SIP 'word': a quote and a backslash are allowed in it, and must be
        # quoted into the JSON-RPC request that ends the late call
        pytest.param('q"b\\%u-%p@%s', id="quote-and-backslash-in-call-id"),
    ],
)
def test_given_an_asterisk_that_answers_after_its_call_failed_over_then_kamailio_ends_that_answer(
    edge: Edge, tmp_path: Path, call_ids: str
) -> None:
    assert _edge_counts(edge) == {"line311_failovers": 0, "line311_late_answers": 0}
    mark = edge.kamailio.log_file.stat().st_size
    # two calls 100 ms apart: round robin sends one of them to the late media server first;
    # each caller stays 5 s, past the late answer
    caller_log = run_sipp(
        tmp_path / "callers", "-sn", "uac", f"127.0.0.1:{edge.sip_port}",
        "-s", "311", "-m", "2", "-r", "10", "-d", "5000", "-cid_str", call_ids,
        "-p", str(free_udp_port()),
    )  # fmt: skip

    late = wait_until(
        lambda: next(
            (
                (call_id, lines)
                for call_id, lines in _by_call(edge.late.snapshot().log).items()
                if "received BYE sip:media@127.0.0.1:" + str(edge.late.local_port) + " SIP/2.0"
                in lines
            ),
            None,
        ),
        10,
        "the late answer ended",
    )
    call_id, lines = late
    # the late server answered, was ACKed (its 200 OK stops), then hung up on, and said 200
    assert [line.split(" sip:")[0] for line in lines if "OPTIONS" not in line][:1] == [
        "received INVITE"
    ], lines
    acked = lines.index(f"received ACK sip:media@127.0.0.1:{edge.late.local_port} SIP/2.0")
    assert lines[acked + 1].startswith("received BYE"), lines
    assert lines[acked + 2] == "sent SIP/2.0 200 OK", lines
    # the caller of that call had one answer: the other server's, in one dialog to the end
    caller_lines = _by_call(caller_log)[call_id]
    answers = [line for line in caller_lines if line == "received SIP/2.0 200 OK"]
    assert len(answers) == 2, caller_lines  # the INVITE's 200 OK, then its BYE's
    assert call_id in _by_call(edge.prompt.snapshot().log)
    with edge.kamailio.log_file.open("rb") as log:
        log.seek(mark)
        assert b"ending its call (ACK, BYE)" in log.read()
    # what /metrics shows: one call failed over, one late answer ended
    assert _edge_counts(edge) == {"line311_failovers": 1, "line311_late_answers": 1}


def test_given_the_asterisk_a_call_failed_over_from_answers_first_then_the_caller_gets_the_next_ones_answer(
    tmp_path: Path,
) -> None:
    # the order the last test does not force: the Asterisk given up on answers (3 s after the
    # INVITE) before the one the call went on to (which sent 100 Trying at 1.5 s, then answers
    # 2.5 s later). tm never passes on an answer from a branch it gave up on, so that one is
    # the late one, whichever answer comes first
    with _edge(tmp_path, other_ms=2_500, other_trying=True) as edge:
        mark = edge.kamailio.log_file.stat().st_size
        caller_log = run_sipp(  # both callers answered
            tmp_path / "callers", "-sn", "uac", f"127.0.0.1:{edge.sip_port}",
            "-s", "311", "-m", "2", "-r", "10", "-d", "3000", "-p", str(free_udp_port()),
        )  # fmt: skip

        given_up = wait_until(
            lambda: next(
                (
                    (call_id, lines)
                    for call_id, lines in _by_call(edge.late.snapshot().log).items()
                    if any(line.startswith("received BYE") for line in lines)
                ),
                None,
            ),
            10,
            "the given-up answer ended",
        )
        call_id, lines = given_up
        acked = lines.index(f"received ACK sip:media@127.0.0.1:{edge.late.local_port} SIP/2.0")
        assert lines[acked + 1].startswith("received BYE"), lines
        # the caller's one answer is the other server's, and that call lasted to the caller's BYE
        other = [line.split(" sip:")[0] for line in _by_call(edge.prompt.snapshot().log)[call_id]]
        assert other == [
            "received INVITE",
            "sent SIP/2.0 100 Trying",
            "sent SIP/2.0 200 OK",
            "received ACK",
            "received BYE",  # the caller's, after its 3 s: Kamailio sent none
            "sent SIP/2.0 200 OK",
        ], other
        caller_lines = _by_call(caller_log)[call_id]
        assert caller_lines.count("received SIP/2.0 200 OK") == 2, caller_lines
        assert b"ending its call (ACK, BYE)" in edge.kamailio.log_file.read_bytes()[mark:]
        assert _edge_counts(edge) == {"line311_failovers": 1, "line311_late_answers": 1}
