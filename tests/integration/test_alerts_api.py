"""The alerts API in process (httpx ASGI transport) on SQLite and PostgreSQL, with real
ffmpeg and espeak-ng: uploads and TTS give 8 kHz WAVs, bad uploads 415/422, four-eyes,
withdrawal, read-only role, nodes checked against the IVR flow, and the SSE feed of CCR
messages."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header
from sqlalchemy.engine import Engine

from line311.dashboard.alerts_api import create_alerts_router
from line311.db import make_session_factory
from line311.ivr.flow import default_flow, load_flow
from line311.messaging.alert_service import AlertService
from line311.messaging.alert_store import AlertStore
from line311.messaging.audio import read_wav_info
from line311.messaging.feed import AlertFeed, AlertScheduler
from line311.messaging.recording import AlertAudioFiles, AudioLimits
from line311.messaging.tts import EspeakEngine, TtsCache
from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 7, 4, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class User:
    username: str
    role: str


def trivial_auth(x_user: str = Header(default="alice:supervisor")) -> User:
    name, _, role = x_user.partition(":")
    return User(name, role)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    service: AlertService
    scheduler: AlertScheduler
    clock: FakeClock

    async def call(self, method: str, url: str, user: str = "alice", **kw: Any) -> httpx.Response:
        role = "operations" if user == "ops" else "supervisor"
        headers = {"X-User": f"{user}:{role}", **kw.pop("headers", {})}
        return await self.client.request(method, "/api/alerts" + url, headers=headers, **kw)


@pytest.fixture
async def api(engine: Engine, tmp_path: Path) -> AsyncIterator[Api]:  # noqa: F811
    clock = FakeClock(T0 - timedelta(hours=1))
    files = AlertAudioFiles(
        tmp_path / "state",
        tmp_path / "state" / "sounds",
        limits=AudioLimits(min_seconds=1.0, max_seconds=60.0),
        tts_cache=TtsCache(tmp_path / "tts"),
    )
    service = AlertService(
        AlertStore(make_session_factory(engine)),
        files,
        clock=clock,
        tts_engine=EspeakEngine,
        flow=default_flow,  # the shipped flow: greeting, alerts, language, main, parking...
    )
    feed = AlertFeed()
    scheduler = AlertScheduler(service, feed, clock=clock)
    app = FastAPI()
    app.include_router(
        create_alerts_router(trivial_auth, service=service, feed=feed), prefix="/api/alerts"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://line311.test") as client:
        yield Api(client, app, service, scheduler, clock)


def audio_file(tmp_path: Path, name: str, source: str = "sine=frequency=440:duration=3") -> bytes:
    out = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
         "-ar", "48000", "-ac", "2", str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


BODY = {
    "title": "Blackout in Astoria",
    "kind": "both",
    "starts_at": T0.isoformat(),
    "ends_at": (T0 + timedelta(hours=2)).isoformat(),
    "priority": 2,
    "texts": {"en": "Con Edison reports a power outage in Astoria. Crews are on site."},
    "ccr_text": "Power outage in Astoria: Con Ed ticket 4411",
}


async def create(api: Api, **overrides: Any) -> str:
    response = await api.call("POST", "", json={**BODY, **overrides})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_given_an_mp3_upload_when_put_then_the_alert_gets_an_8khz_wav(
    api: Api, tmp_path: Path
):
    alert_id = await create(api)
    data = audio_file(tmp_path, "speech.mp3")
    response = await api.call(
        "PUT", f"/{alert_id}/audio/es", files={"file": ("speech.mp3", data, "audio/mpeg")}
    )
    assert response.status_code == 200, response.text
    assert response.json()["source"] == "upload"
    wav = await api.call("GET", f"/{alert_id}/audio/es")
    assert wav.headers["content-type"] == "audio/wav"
    (tmp_path / "got.wav").write_bytes(wav.content)
    info = read_wav_info(tmp_path / "got.wav")
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)


async def test_given_a_raw_ogg_body_when_put_then_it_is_converted(api: Api, tmp_path: Path):
    alert_id = await create(api)
    data = audio_file(tmp_path, "speech.ogg")
    response = await api.call(
        "PUT", f"/{alert_id}/audio/en", content=data, headers={"Content-Type": "audio/ogg"}
    )
    assert response.status_code == 200, response.text
    assert 2.9 < response.json()["duration"] < 3.1


async def test_given_typed_text_when_synthesized_then_an_8khz_wav_is_made(api: Api, tmp_path: Path):
    alert_id = await create(api)
    response = await api.call("POST", f"/{alert_id}/synthesize", json={"languages": ["en"]})
    assert response.status_code == 200, response.text
    assert response.json()["assets"][0]["source"] == "tts"
    info = read_wav_info(api.service.files.master_path(alert_id, "en"))
    assert (info.rate, info.channels) == (8000, 1)


async def test_given_a_text_file_when_uploaded_then_415(api: Api):
    alert_id = await create(api)
    response = await api.call(
        "PUT", f"/{alert_id}/audio/en", files={"file": ("notes.txt", b"hello", "text/plain")}
    )
    assert response.status_code == 415
    assert response.json()["error_id"] == "unsupported-media-type"


async def test_given_a_corrupt_mp3_when_uploaded_then_422_audio_corrupt(api: Api):
    alert_id = await create(api)
    response = await api.call(
        "PUT",
        f"/{alert_id}/audio/en",
        files={"file": ("x.mp3", b"\xff\xfb" + b"\0" * 500, "audio/mpeg")},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error_id"] == "audio-corrupt"
    assert set(body) == {"error_id", "message", "details"}


async def test_given_silence_when_uploaded_then_422_with_the_reason(api: Api, tmp_path: Path):
    alert_id = await create(api)
    data = audio_file(tmp_path, "quiet.wav", "anullsrc=r=48000:cl=stereo:d=3")
    response = await api.call(
        "PUT", f"/{alert_id}/audio/en", files={"file": ("q.wav", data, "audio/wav")}
    )
    assert response.status_code == 422
    assert response.json()["details"] == {"reason": "silent"}


async def test_given_a_bad_body_when_creating_then_422_names_the_field(api: Api):
    response = await api.call("POST", "", json={**BODY, "languages": ["fr"]})
    assert response.status_code == 422
    assert response.json()["error_id"] == "invalid-request"
    assert response.json()["details"][0]["loc"][0] == "languages"


async def test_given_a_node_the_flow_does_not_have_when_creating_then_422_names_the_field_and_the_nodes(
    api: Api,
):
    response = await api.call("POST", "", json={**BODY, "node": "parkign"})

    assert response.status_code == 422
    body = response.json()
    assert body["error_id"] == "invalid-node"
    assert body["message"].startswith("node: the IVR flow 'nyc311' has no node 'parkign'")
    assert "parking" in body["message"]
    details = body["details"]
    assert (details["field"], details["node"], details["reason"]) == ("node", "parkign", "unknown")
    assert details["flow"] == "nyc311"
    assert "parking" in details["known_nodes"]
    assert not {"greeting", "alerts"} & set(details["known_nodes"])
    assert (await api.call("GET", "")).json()["alerts"] == []  # nothing was made


async def test_given_the_greeting_node_when_creating_then_422_says_to_leave_the_node_out(
    api: Api,
):
    response = await api.call("POST", "", json={**BODY, "node": "greeting"})

    assert response.status_code == 422
    assert response.json()["error_id"] == "invalid-node"
    assert response.json()["details"]["reason"] == "start"
    assert "right after the greeting: leave the node out" in response.json()["message"]
    made = await api.call("POST", "", json=BODY)  # without a node: after the greeting
    assert made.status_code == 201
    assert made.json()["node"] is None


async def test_given_a_language_only_alert_at_the_language_menu_then_422_before_language(
    api: Api,
):
    response = await api.call("POST", "", json={**BODY, "node": "language", "languages": ["es"]})

    assert response.status_code == 422
    assert response.json()["details"]["reason"] == "before-language"


async def test_given_a_menu_node_when_creating_then_201_and_an_approval_checks_it_again(
    api: Api,
):
    alert_id = await create(api, node="parking", languages=["es"])
    assert (await api.call("GET", f"/{alert_id}")).json()["node"] == "parking"
    await api.call("POST", f"/{alert_id}/synthesize", json={})
    await api.call("POST", f"/{alert_id}/submit")
    # the flow is reloaded without the parking node before the approval
    flow = default_flow()
    api.service.flow = lambda: load_flow(
        "flow: lean\nversion: 1\nstart: greeting\nnodes:\n"
        "  greeting: {kind: play, prompts: [greeting], next: end}\n"
        "  end: {kind: hangup}\n  representative: {kind: queue, topic: general}\n"
    )
    refused = await api.call("POST", f"/{alert_id}/approve", user="bob")
    assert refused.status_code == 422
    assert refused.json()["details"]["known_nodes"] == ["end", "representative"]
    assert (await api.call("GET", f"/{alert_id}")).json()["state"] == "pending_approval"
    api.service.flow = lambda: flow
    approved = await api.call("POST", f"/{alert_id}/approve", user="bob")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"


LEAN_FLOW = (
    "flow: lean\nversion: 2\nstart: greeting\nnodes:\n"
    "  greeting: {kind: play, prompts: [greeting], next: alerts}\n"
    "  alerts: {kind: alerts, next: end}\n"
    "  end: {kind: hangup}\n  representative: {kind: queue, topic: general}\n"
)


async def test_given_an_active_node_alert_when_the_flow_loses_its_node_then_the_api_flags_it(
    api: Api,
):
    node_alert = await create(api, node="parking")
    spanish = await create(api, node="parking", languages=["es"])
    draft = await create(api, node="parking")
    plain = await create(api)
    for alert_id in (node_alert, spanish, plain):
        await api.call("POST", f"/{alert_id}/synthesize", json={})
        await api.call("POST", f"/{alert_id}/submit")
        await api.call("POST", f"/{alert_id}/approve", user="bob")
    api.clock.now = T0
    await api.scheduler.step()
    listed = {a["id"]: a for a in (await api.call("GET", "")).json()["alerts"]}
    assert {a["node_problem"] for a in listed.values()} == {None}

    api.service.flow = lambda: load_flow(LEAN_FLOW)  # reloaded without the parking node

    listed = {a["id"]: a for a in (await api.call("GET", "")).json()["alerts"]}
    assert listed[node_alert]["state"] == "active"
    assert listed[node_alert]["node_problem"] == {
        "reason": "unknown",
        "message": "the IVR flow 'lean' has no node 'parking': no caller would hear it",
        "played_instead": "greeting",
    }
    assert listed[spanish]["node_problem"]["played_instead"] == "language"
    assert listed[draft]["node_problem"]["played_instead"] is None  # approval is refused
    assert listed[plain]["node_problem"] is None
    shown = (await api.call("GET", f"/{node_alert}", user="ops")).json()
    assert shown["node_problem"]["reason"] == "unknown"
    # withdrawn: no longer a problem of anyone's
    await api.call("POST", f"/{node_alert}/withdraw", user="bob")
    assert (await api.call("GET", f"/{node_alert}")).json()["node_problem"] is None


async def test_given_an_operations_user_when_acting_then_403_but_reading_works(api: Api):
    alert_id = await create(api)
    response = await api.call("POST", f"/{alert_id}/submit", user="ops")
    assert response.status_code == 403
    assert response.json()["error_id"] == "forbidden"
    assert (await api.call("POST", "", user="ops", json=BODY)).status_code == 403
    assert (await api.call("GET", f"/{alert_id}", user="ops")).status_code == 200
    assert (await api.call("GET", "", user="ops")).status_code == 200


async def test_given_four_eyes_when_the_author_approves_then_403_and_another_supervisor_can(
    api: Api,
):
    alert_id = await create(api)
    assert (await api.call("POST", f"/{alert_id}/synthesize", json={})).status_code == 200
    assert (await api.call("POST", f"/{alert_id}/submit")).status_code == 200
    own = await api.call("POST", f"/{alert_id}/approve")
    assert own.status_code == 403
    assert own.json()["error_id"] == "four-eyes"
    other = await api.call("POST", f"/{alert_id}/approve", user="bob", json={"note": "checked"})
    assert other.status_code == 200
    assert other.json()["state"] == "approved"
    assert other.json()["approved_by"] == "bob"
    shown = (await api.call("GET", f"/{alert_id}")).json()
    assert [(e["actor"], e["action"]) for e in shown["audit"]][-2:] == [
        ("alice", "submit"),
        ("bob", "approve"),
    ]
    assert shown["audit"][-1]["note"] == "checked"


async def test_given_an_active_alert_when_withdrawn_then_no_new_call_hears_it(api: Api):
    alert_id = await create(api)
    await api.call("POST", f"/{alert_id}/synthesize", json={})
    await api.call("POST", f"/{alert_id}/submit")
    await api.call("POST", f"/{alert_id}/approve", user="bob")
    api.clock.now = T0
    await api.scheduler.step()
    assert api.scheduler.announcements("en") == [f"alerts/{alert_id}"]
    response = await api.call(
        "POST", f"/{alert_id}/withdraw", user="bob", json={"note": "resolved"}
    )
    assert response.json()["state"] == "withdrawn"
    await api.scheduler.step()
    assert api.scheduler.announcements("en") == []
    again = await api.call("POST", f"/{alert_id}/withdraw", user="bob")
    assert again.status_code == 409
    assert again.json()["error_id"] == "illegal-transition"


async def test_given_an_unknown_alert_then_404(api: Api):
    response = await api.call("GET", "/nope")
    assert response.status_code == 404
    assert response.json()["error_id"] == "alert-not-found"


async def test_given_alerts_in_several_states_when_listed_by_state_then_filtered(api: Api):
    a = await create(api, kind="ccr_message")
    b = await create(api, kind="ccr_message")
    await api.call("POST", f"/{b}/submit")
    listed = (await api.call("GET", "?state=pending_approval")).json()["alerts"]
    assert [x["id"] for x in listed] == [b]
    assert {x["id"] for x in (await api.call("GET", "")).json()["alerts"]} == {a, b}


# ---------------------------------------------------------------------- SSE
class SseReader:
    """Drives the ASGI app directly, so an endless response can be read as it streams."""

    def __init__(self, app: FastAPI, path: str) -> None:
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.disconnect = asyncio.Event()
        self.status: int | None = None
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": [(b"host", b"line311.test"), (b"x-user", b"carol:operations")],
            "client": ("127.0.0.1", 1), "server": ("line311.test", 80),
        }  # fmt: skip
        self.task = asyncio.create_task(app(scope, self._receive, self._send))
        self.buffer = b""

    async def _receive(self) -> dict[str, Any]:
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            await self.chunks.put(message.get("body", b""))

    async def event(self) -> tuple[str, Any]:
        while b"\n\n" not in self.buffer:
            self.buffer += await asyncio.wait_for(self.chunks.get(), timeout=10)
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        fields = dict(line.split(": ", 1) for line in raw.decode().splitlines() if ": " in line)
        return fields["event"], json.loads(fields["data"])

    async def close(self) -> None:
        self.disconnect.set()
        await asyncio.wait_for(self.task, timeout=10)


async def test_given_a_desktop_on_the_feed_when_a_ccr_message_activates_and_is_withdrawn_then_it_gets_both_events(
    api: Api,
):
    alert_id = await create(api, kind="ccr_message")
    await api.call("POST", f"/{alert_id}/submit")
    await api.call("POST", f"/{alert_id}/approve", user="bob")
    reader = SseReader(api.app, "/api/alerts/feed")
    try:
        assert await reader.event() == ("snapshot", [])
        assert reader.status == 200
        api.clock.now = T0
        await api.scheduler.step()
        kind, data = await reader.event()
        assert (kind, data["id"], data["text"]) == ("activated", alert_id, BODY["ccr_text"])
        await api.call("POST", f"/{alert_id}/withdraw", user="bob")
        await api.scheduler.step()
        assert await reader.event() == ("withdrawn", {"id": alert_id, "title": BODY["title"]})
    finally:
        await reader.close()


async def test_given_an_active_ccr_message_when_its_end_comes_then_the_feed_says_expired(api: Api):
    alert_id = await create(api, kind="ccr_message")
    await api.call("POST", f"/{alert_id}/submit")
    api.clock.now = T0
    await api.call("POST", f"/{alert_id}/approve", user="bob")
    await api.scheduler.step()
    reader = SseReader(api.app, "/api/alerts/feed")
    try:
        kind, data = await reader.event()
        assert (kind, [d["id"] for d in data]) == ("snapshot", [alert_id])
        api.clock.now = T0 + timedelta(hours=2)  # the exact end: expired
        await api.scheduler.step()
        assert await reader.event() == ("expired", {"id": alert_id, "title": BODY["title"]})
    finally:
        await reader.close()
    assert api.service.get(alert_id).state.value == "expired"


# A NUL anywhere in what an alert stores, or in an alert id, reached PostgreSQL, which
# refuses it: the answer was 503 "the alert database is unavailable" (SQLite stored it).
UNSAFE_FIELDS = {
    "title": "Snow\x00",
    "ccr_text": "Schools closed\x1b[2J",
    "node": "main\x00",
    "texts": {"en": "Schools are closed\x00 today."},
    "prompts": {"en": "alerts/snow\x07"},
}


@pytest.mark.parametrize("field", UNSAFE_FIELDS)
async def test_given_control_characters_in_an_alert_body_then_422_names_the_field_and_stores_nothing(
    api: Api, field: str
):
    response = await api.call(
        "POST",
        "",
        content=json.dumps({**BODY, field: UNSAFE_FIELDS[field]}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error_id"] == "invalid-request"
    assert field in response.text
    assert "\\u0000" not in response.text
    assert "\\u001b" not in response.text
    assert (await api.call("GET", "")).json()["alerts"] == []
    alert_id = await create(api)
    edit = await api.call(
        "PATCH",
        f"/{alert_id}",
        content=json.dumps({"title": "Snow\x00"}),
        headers={"Content-Type": "application/json"},
    )
    assert edit.status_code == 422
    note = await api.call(
        "POST",
        f"/{alert_id}/submit",
        content=json.dumps({"note": "ok\x00"}),
        headers={"Content-Type": "application/json"},
    )
    assert note.status_code == 422
    assert (await api.call("GET", f"/{alert_id}")).json()["state"] == "draft"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/a%00b"),
        ("PATCH", "/a%00b"),
        ("GET", "/a%00b/audio/en"),
        ("PUT", "/a%00b/audio/en"),
        ("POST", "/a%00b/synthesize"),
        ("POST", "/a%00b/approve"),
        ("POST", "/a%1bb/withdraw"),
        ("POST", "/" + "x" * 300 + "/withdraw"),
    ],
)
async def test_given_an_alert_id_that_is_not_text_or_too_long_then_400_invalid_target(
    api: Api, method: str, path: str
):
    response = await api.call(method, path, json={})
    assert response.status_code == 400, response.text
    assert response.json()["error_id"] == "invalid-target"
    assert "x" * 300 not in response.text


async def test_given_an_upload_whose_file_name_is_not_text_then_422_before_decoding(api: Api):
    """The file name is kept as the asset's reference."""
    alert_id = await create(api)
    response = await api.call(
        "PUT", f"/{alert_id}/audio/en?filename=snow%00.wav", content=b"RIFF", headers={}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error_id"] == "invalid-request"
    assert "file name" in response.json()["message"]
