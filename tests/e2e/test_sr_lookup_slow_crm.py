"""Issue 16 (6), end to end: a slow CRM never gives an SR caller silence.

The controller talks to the CRM bridge through a proxy in this test that holds every SR
lookup (``GET /v1/sr/...``) until the independent ARI observer has seen Asterisk start
"please wait" on the caller's channel (at most 4 s, under the controller's 5 s bound), then
forwards it. The proxy writes down whether it saw the prompt start before it answered: the
order is checked by cause, not by clocks. Everything else the controller sends (call records)
is forwarded at once.

    caller  1 (English), 4 (SR status), SR#, 1 (confirm) ─▶ please wait ─▶ status read out
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.sim.sipp import ON_CUE, start_caller
from tests.conftest import AsteriskInstance, free_tcp_port
from tests.e2e.conftest import playbacks, record_for, start_stack
from tests.e2e.stack import AriObserver, Stack, wait_until

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(240)]  # starts its own stack

CALLER = "2125550171"
SOUNDS = "sound:/var/lib/line311/sounds"
PLEASE_WAIT = "en/sr_please_wait"


@dataclass
class SlowCrm:
    """What the proxy saw of the SR lookups it held."""

    observer: AriObserver
    upstream: str
    lookups: list[bool] = field(default_factory=list)
    """Per lookup: had "please wait" started on a channel before the lookup was answered?"""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def please_wait_started(self) -> bool:
        return any(
            p["media_uri"] == f"{SOUNDS}/{PLEASE_WAIT}"
            for p in playbacks(self.observer, None, "PlaybackStarted")
        )

    def hold_lookup(self) -> None:
        try:
            wait_until(self.please_wait_started, 4, "please-wait to start", step=0.05)
            started = True
        except AssertionError:
            started = False
        with self.lock:
            self.lookups.append(started)


def _handler(crm: SlowCrm) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if self.command == "GET" and self.path.startswith("/v1/sr/"):
                crm.hold_lookup()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() in ("authorization", "content-type")
            }
            r = httpx.request(
                self.command, crm.upstream + self.path, content=body, headers=headers, timeout=10
            )
            self.send_response(r.status_code)
            self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

    return Proxy


@dataclass
class Run:
    stack: Stack
    crm: SlowCrm


@pytest.fixture(scope="module")
def run(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("slow-crm")
    observer = AriObserver(
        asterisk_instance.ari_url, asterisk_instance.ari_user, asterisk_instance.ari_password
    )
    proxy_port = free_tcp_port()
    crm = SlowCrm(observer, upstream="")
    server = ThreadingHTTPServer(("127.0.0.1", proxy_port), _handler(crm))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        stack = start_stack(
            asterisk_instance, workdir, {"LINE311_CRM_URL": f"http://127.0.0.1:{proxy_port}"}
        )
        crm.upstream = f"http://127.0.0.1:{stack.crm_port}"
        try:
            yield Run(stack, crm)
        finally:
            stack.stop()
    finally:
        server.shutdown()
        server.server_close()
        observer.close()


def _seed_sr(stack: Stack) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{stack.crm_port}/v1/sr",
        json={"service_code": "derelict-vehicle", "description": "e2e: slow CRM"},
        headers={"Authorization": f"Bearer {stack.env['LINE311_CRM_API_KEY']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sr_number"])


def test_given_a_slow_crm_when_a_caller_confirms_an_sr_number_then_please_wait_starts_before_the_lookup_is_answered(
    run: Run, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    sr_number = _seed_sr(run.stack)
    known = {r["call_id"] for r in run.stack.calls()}
    caller = start_caller(
        tmp_path / "sr",
        asterisk_instance.sip_port,
        "311",
        from_user=CALLER,
        dtmf=[(ON_CUE, "1"), (1500, "4"), (1500, sr_number + "#"), (ON_CUE, "1")],  # read back
        hold_ms=14_000,
    )
    try:
        result = caller.wait(timeout=90)
    finally:
        caller.kill()
    assert result.final_status == 200
    record = record_for(run.stack, "311", known)
    channel = f"channel:{record['call_id']}"

    assert run.crm.lookups == [True], "the lookup was answered before please-wait started"
    finished = [
        (p["media_uri"].removeprefix(SOUNDS + "/"), p["state"])
        for p in playbacks(run.crm.observer, None)
        if p["target_uri"] == channel
    ]
    media = [m for m, _ in finished]
    at = media.index(PLEASE_WAIT)
    assert finished[at] == (PLEASE_WAIT, "done")  # played to its end, not cut short
    assert media[at + 1 : at + 3] == ["en/sr_status_is", "en/sr_status_open"]
