"""Issue 16 (3), end to end: the CCR's desk gets the caller's context the moment they answer.

A real SIPp caller looks up an SR in Spanish, asks for a representative and waits in the
``general`` queue; the bilingual CCR's real SIPp phone (agent2) answers. The CCR's desk
client -- signed in with agent2's own account, reading ``/api/desk/agents/agent2/pops`` as
Server-Sent Events in a thread -- must receive the screen pop (language, IVR path, SR looked
up and its status, queue, skills; never the caller's number) within the first second after
the answer that an independent ARI observer saw, and before the caller is bridged in.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.sim.sipp import ON_CUE, SippPhone, start_agent, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import general_queue_env, running_stack
from tests.e2e.stack import AriObserver, Stack, wait_until

pytestmark = pytest.mark.asterisk

logger = logging.getLogger(__name__)

CALLER = "2125550163"  # the resident's number: never on the desk
PASSWORD = "correct horse battery staple\n"


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("pops-stack")
    with running_stack(asterisk_instance, workdir, general_queue_env(workdir)) as s:
        yield s


def account_token(stack: Stack, username: str, role: str) -> str:
    stack.cli("accounts", "create", username, "--role", role, "--password-stdin", stdin=PASSWORD)
    return stack.cli("accounts", "token", username).stdout.strip().splitlines()[-1]


def seed_sr(stack: Stack) -> str:
    """File an SR through the CRM bridge, as a CCR's desktop would."""
    response = httpx.post(
        f"http://127.0.0.1:{stack.crm_port}/v1/sr",
        json={"service_code": "derelict-vehicle", "description": "e2e: abandoned car"},
        headers={"Authorization": f"Bearer {stack.env['LINE311_CRM_API_KEY']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sr_number"])


class DeskClient:
    """A CCR desk reading its pop stream in a thread; records (arrival time, event, data)
    until the first ``pop`` event, then hangs up."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.events: list[tuple[float, str, Any]] = []
        self.raw: list[str] = []
        self.status: int | None = None
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._connected.wait(15):
            raise AssertionError("the desk stream did not connect")

    def _run(self) -> None:
        timeout = httpx.Timeout(10, read=120)
        try:
            with (
                httpx.Client(timeout=timeout) as client,
                client.stream("GET", self.url, headers=self.headers) as response,
            ):
                self.status = response.status_code
                self._connected.set()
                kind = "message"
                for line in response.iter_lines():
                    arrived = time.time()
                    with self._lock:
                        self.raw.append(line)
                        if line.startswith("event: "):
                            kind = line.removeprefix("event: ")
                        elif line.startswith("data: "):
                            data = json.loads(line.removeprefix("data: "))
                            self.events.append((arrived, kind, data))
                    if line.startswith("data: ") and kind == "pop":
                        return
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by the test, or the server went away
        finally:
            self._connected.set()

    def pops(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [(at, data) for at, kind, data in self.events if kind == "pop"]

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.raw)

    def close(self) -> None:
        """Wait (briefly) for the reader; without a pop it ends when the server stops."""
        self._thread.join(timeout=2)


def ari_time(event: dict[str, Any]) -> float:
    """An ARI event's timestamp (``2026-12-04T17:20:00.123+0000``) as POSIX seconds."""
    return datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


@pytest.mark.timeout(300)  # the IVR part alone is over 30 s of real audio
def test_given_a_ccr_desk_listening_when_their_phone_answers_a_queued_caller_then_the_pop_arrives_within_a_second(
    stack: Stack, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{stack.http_port}/api/desk"
    supervisor = {"Authorization": f"Bearer {stack.supervisor_token()}"}
    ccr_token = account_token(stack, "agent2", "operations")
    sr_number = seed_sr(stack)
    observer = AriObserver(
        asterisk_instance.ari_url, asterisk_instance.ari_user, asterisk_instance.ari_password
    )
    started: list[Any] = []
    desk = DeskClient(f"{base}/agents/agent2/pops", ccr_token)
    try:
        assert desk.status == 200
        password = asterisk_instance.settings.agent_password.get_secret_value()
        phone: SippPhone = start_agent(
            tmp_path / "agent2", asterisk_instance.sip_port, "agent2", password, talk_ms=3000
        )
        started.append(phone)
        login = httpx.post(f"{base}/agents/agent2/login", headers=supervisor, timeout=5)
        assert login.status_code == 200, login.text
        dtmf = [
            (ON_CUE, "2"),  # Spanish, as the language menu starts
            (1500, "4"),  # SR status
            (1500, sr_number + "#"),
            (ON_CUE, "1"),  # "you entered ...", read back: confirm
            (5000, "0"),  # after the status is read: a representative
        ]
        caller = start_caller(
            tmp_path / "caller",
            asterisk_instance.sip_port,
            "311",
            from_user=CALLER,
            dtmf=dtmf,
            hold_ms=25_000,
        )
        started.append(caller)
        ((arrived, pop),) = wait_until(desk.pops, 90, "the screen pop on agent2's desk", step=0.1)
        call_id = pop["call_id"]

        def answered_and_bridged() -> tuple[float, float] | None:
            events = observer.snapshot()
            answers = [
                ari_time(e)
                for e in events
                if e.get("type") in ("StasisStart", "ChannelStateChange")
                and e["channel"]["id"].startswith(f"{call_id}-a")
                and e["channel"]["state"] == "Up"
            ]
            bridged = [
                ari_time(e)
                for e in events
                if e.get("type") == "ChannelEnteredBridge"
                and e["bridge"]["id"] == f"conn-{call_id}"
                and e["channel"]["id"] == call_id
            ]
            return (min(answers), min(bridged)) if answers and bridged else None

        answer_at, bridged_at = wait_until(answered_and_bridged, 30, "the answer and the bridge")
        assert caller.wait(timeout=60).final_status == 200  # the CCR hangs up after 3 s

        def phone_trace() -> str | None:
            log = phone.snapshot().log
            return log if "BYE" in log else None

        ccr_phone_saw = wait_until(phone_trace, 10, "the CCR phone's trace of the call")
    finally:
        desk.close()
        observer.close()
        for proc in started:
            (getattr(proc, "stop", None) or proc.kill)()
        httpx.post(f"{base}/agents/agent2/logout", headers=supervisor, timeout=5)

    # the desk had the pop within the first second of the CCR's answer, before the bridge
    logger.info(
        "pop on the desk %.3f s after the answer, %.3f s before the bridge",
        arrived - answer_at,
        bridged_at - arrived,
    )
    assert answer_at <= arrived < answer_at + 1.0, (answer_at, arrived)
    assert arrived < bridged_at, (arrived, bridged_at)
    # ... and the caller's context in it
    assert pop["agent_id"] == "agent2"
    assert (pop["language"], pop["queue"], pop["topic"]) == ("es", "general", "sr_status")
    assert pop["skills"] == ["lang:es", "topic:general"]
    assert pop["callback"] is False
    assert 0 <= pop["wait_seconds"] < 60
    assert pop["ivr"]["language_selected_by"] == "dtmf"
    assert pop["ivr"]["nodes"][-2:] == ["sr_status", "representative"]
    assert pop["ivr"]["sr_lookups"] == [
        {"sr_number": sr_number, "result": "found", "status": "open"}
    ]
    # never the caller's number, neither on the stream nor from the polling endpoint
    assert CALLER not in desk.text()
    last = httpx.get(f"{base}/agents/agent2/pop", headers=supervisor, timeout=5).json()
    assert last["pop"]["call_id"] == call_id
    assert CALLER not in json.dumps(last)
    # ... nor in any SIP message the CCR's phone got: the INVITE, and whatever identity update
    # the bridge sent (the caller's channel gets a neutral caller id first)
    assert "INVITE sip:" in ccr_phone_saw
    assert CALLER not in ccr_phone_saw
