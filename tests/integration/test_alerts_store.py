"""The alert store and service on SQLite and PostgreSQL, with real audio tools (ffmpeg,
espeak-ng): uploads and typed text become 8 kHz prompts, the lifecycle is audited."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from line311.db import make_session_factory
from line311.messaging.alert_service import AlertChange, AlertService
from line311.messaging.alert_store import AlertConflict, AlertStore
from line311.messaging.alerts import Action, AlertKind, AlertState, AudioSource, call_alerts
from line311.messaging.audio import read_wav_info
from line311.messaging.errors import (
    AudioRejected,
    FourEyesViolation,
    IllegalTransition,
    UnsupportedAudio,
)
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


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_audio(tmp_path: Path, name: str, source: str = "sine=frequency=440:duration=3") -> bytes:
    """An audio file made by ffmpeg from a lavfi source (44.1 kHz stereo, any container)."""
    out = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
         "-ar", "44100", "-ac", "2", str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 - timedelta(hours=1))


@pytest.fixture
def service(engine: Engine, tmp_path: Path, clock: FakeClock) -> AlertService:  # noqa: F811
    files = AlertAudioFiles(
        tmp_path / "state",
        tmp_path / "state" / "sounds",
        asterisk_dir=tmp_path / "asterisk-sounds",
        limits=AudioLimits(min_seconds=1.0, max_seconds=30.0, silence_dbfs=-45.0),
        tts_cache=TtsCache(tmp_path / "tts"),
    )
    return AlertService(
        AlertStore(make_session_factory(engine)), files, clock=clock, tts_engine=EspeakEngine
    )


def draft(service: AlertService, **kw: object) -> str:
    fields: dict[str, object] = {
        "actor": "alice",
        "title": "Blackout in Astoria",
        "kind": AlertKind.BOTH,
        "starts_at": T0,
        "ends_at": T0 + timedelta(hours=3),
        "texts": {"en": "Con Edison reports a power outage in Astoria. Crews are working."},
        "ccr_text": "Power outage in Astoria (Con Ed ticket 4411)",
    }
    fields.update(kw)
    return service.create(**fields).id  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["upload.mp3", "upload.ogg", "upload.m4a", "upload.flac", "upload.wav"]
)
def test_given_an_upload_in_a_common_format_when_stored_then_an_8khz_mono_master_is_kept(
    service: AlertService, tmp_path: Path, name: str
) -> None:
    alert_id = draft(service)
    data = make_audio(tmp_path, name)
    asset = service.upload_audio(
        alert_id, "es", data, filename=name, media_type=None, actor="alice"
    )
    master = service.files.master_path(alert_id, "es")
    info = read_wav_info(master)
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert 2.9 <= asset.duration <= 3.1
    assert service.get(alert_id).audio["es"].source is AudioSource.UPLOAD
    assert [a.language for a in service.assets(alert_id)] == ["es"]


def test_given_typed_text_when_synthesised_then_espeak_renders_an_8khz_master(
    service: AlertService,
) -> None:
    alert_id = draft(service)
    [asset] = service.synthesize(alert_id, actor="alice")
    info = read_wav_info(service.files.master_path(alert_id, "en"))
    assert (info.rate, info.channels) == (8000, 1)
    assert asset.source is AudioSource.TTS
    assert asset.duration > 1.0


def test_given_a_text_file_named_wav_when_uploaded_then_it_is_rejected_as_corrupt(
    service: AlertService,
) -> None:
    alert_id = draft(service)
    with pytest.raises(AudioRejected) as info:
        service.upload_audio(
            alert_id, "en", b"not audio at all" * 10, filename="x.wav", media_type="audio/wav",
            actor="alice",
        )  # fmt: skip
    assert info.value.reason == "corrupt"


def test_given_a_pdf_when_uploaded_then_it_is_unsupported(service: AlertService) -> None:
    alert_id = draft(service)
    with pytest.raises(UnsupportedAudio):
        service.upload_audio(
            alert_id, "en", b"%PDF-1.4", filename="x.pdf", media_type="application/pdf",
            actor="alice",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("anullsrc=r=44100:cl=stereo:d=3", "silent"),
        ("sine=frequency=440:duration=0.4", "too-short"),
        ("sine=frequency=440:duration=31", "too-long"),
    ],
)
def test_given_bad_audio_when_uploaded_then_it_is_refused_with_the_reason(
    service: AlertService, tmp_path: Path, source: str, reason: str
) -> None:
    alert_id = draft(service)
    data = make_audio(tmp_path, "bad.wav", source)
    with pytest.raises(AudioRejected) as info:
        service.upload_audio(alert_id, "en", data, filename="bad.wav", media_type=None, actor="a")
    assert info.value.reason == reason
    assert service.get(alert_id).audio == {}


def test_given_a_full_lifecycle_then_files_are_published_and_removed_and_every_step_audited(
    service: AlertService, tmp_path: Path, clock: FakeClock
) -> None:
    changes: list[AlertChange] = []
    service.add_listener(changes.append)
    alert_id = draft(service, languages=["en", "es"])
    service.upload_audio(
        alert_id, "en", make_audio(tmp_path, "a.mp3"), filename="a.mp3", media_type="audio/mpeg",
        actor="alice",
    )  # fmt: skip
    service.submit(alert_id, actor="alice")
    with pytest.raises(FourEyesViolation):
        service.approve(alert_id, actor="alice")
    approved = service.approve(alert_id, actor="bob")
    assert approved.state is AlertState.APPROVED
    # English published for English and, as the fallback, for Spanish; also in Asterisk's copy
    assert service.files.published(alert_id) == ["en", "es"]
    assert (tmp_path / "asterisk-sounds" / "es" / "alerts" / f"{alert_id}.wav").is_file()
    assert service.announcements("es", now=T0 - timedelta(seconds=1)) == []

    clock.now = T0
    assert [c.entry.action for c in service.tick()] == [Action.ACTIVATE]
    assert [a.prompt_id for a in service.announcements("es")] == [f"alerts/{alert_id}"]
    assert [a.prompt_id for a in service.announcements("ko")] == []  # not targeted

    clock.now = T0 + timedelta(minutes=5)
    withdrawn = service.withdraw(alert_id, actor="bob", note="power is back")
    assert withdrawn.state is AlertState.WITHDRAWN
    assert service.files.published(alert_id) == []
    assert not (tmp_path / "asterisk-sounds" / "en" / "alerts" / f"{alert_id}.wav").exists()
    assert service.announcements("en") == []
    with pytest.raises(IllegalTransition):
        service.approve(alert_id, actor="bob")

    steps = [(e.actor, e.action, e.to_state) for e in service.audit(alert_id)]
    assert steps == [
        ("alice", Action.EDIT, AlertState.DRAFT),
        ("alice", Action.EDIT, AlertState.DRAFT),
        ("alice", Action.SUBMIT, AlertState.PENDING_APPROVAL),
        ("bob", Action.APPROVE, AlertState.APPROVED),
        ("system", Action.ACTIVATE, AlertState.ACTIVE),
        ("bob", Action.WITHDRAW, AlertState.WITHDRAWN),
    ]
    assert [c.entry.action for c in changes][-3:] == [
        Action.APPROVE,
        Action.ACTIVATE,
        Action.WITHDRAW,
    ]


def test_given_four_eyes_when_a_supervisor_records_over_a_colleagues_draft_then_they_cannot_approve_it(
    service: AlertService, tmp_path: Path
) -> None:
    alert_id = draft(service, kind=AlertKind.IVR_ANNOUNCEMENT)  # alice's draft
    service.upload_audio(
        alert_id, "en", make_audio(tmp_path, "a.mp3"), filename="a.mp3", media_type="audio/mpeg",
        actor="bob",
    )  # fmt: skip
    service.submit(alert_id, actor="bob")

    with pytest.raises(FourEyesViolation, match="bob changed it"):
        service.approve(alert_id, actor="bob")
    assert service.get(alert_id).state is AlertState.PENDING_APPROVAL
    assert service.approve(alert_id, actor="carol").approved_by == "carol"


def test_given_an_alert_for_russian_callers_with_english_audio_when_approved_then_their_calls_find_the_file(
    service: AlertService, tmp_path: Path
) -> None:
    alert_id = draft(service, languages=["ru"], kind=AlertKind.IVR_ANNOUNCEMENT)
    service.upload_audio(
        alert_id, "en", make_audio(tmp_path, "a.mp3"), filename="a.mp3", media_type="audio/mpeg",
        actor="alice",
    )  # fmt: skip
    service.submit(alert_id, actor="alice")
    service.approve(alert_id, actor="bob")

    [pushed] = call_alerts([service.get(alert_id)], T0)
    chosen = pushed.prompt_for("ru")
    assert chosen == (f"alerts/{alert_id}", "en")
    for root in (service.files.library_dir, tmp_path / "asterisk-sounds"):
        assert service.files.library_path(alert_id, "en", root).is_file()
    assert pushed.prompt_for("en") is None  # English callers are not targeted


def test_given_an_approval_after_the_start_then_the_alert_is_active_at_once(
    service: AlertService, clock: FakeClock
) -> None:
    alert_id = draft(service, kind=AlertKind.CCR_MESSAGE)
    service.submit(alert_id, actor="alice")
    clock.now = T0 + timedelta(minutes=1)
    assert service.approve(alert_id, actor="bob").state is AlertState.ACTIVE
    clock.now = T0 + timedelta(hours=3)
    assert [(c.alert.id, c.entry.action) for c in service.tick()] == [(alert_id, Action.EXPIRE)]
    assert service.get(alert_id).state is AlertState.EXPIRED


def test_given_a_stale_copy_when_saved_then_it_conflicts(service: AlertService) -> None:
    from line311.messaging.alerts import apply

    alert_id = draft(service, kind=AlertKind.CCR_MESSAGE)
    stale = service.get(alert_id)
    service.submit(alert_id, actor="alice")
    after, entry = apply(stale, Action.WITHDRAW, actor="bob", now=T0)
    with pytest.raises(AlertConflict):
        service.store.save(stale, after, [entry])


def test_given_many_alerts_when_listed_by_state_then_only_those_come_back(
    service: AlertService,
) -> None:
    a = draft(service, kind=AlertKind.CCR_MESSAGE)
    b = draft(service, kind=AlertKind.CCR_MESSAGE)
    service.submit(b, actor="alice")
    assert {x.id for x in service.list_alerts()} == {a, b}
    assert [x.id for x in service.list_alerts([AlertState.PENDING_APPROVAL])] == [b]


async def test_given_a_scheduler_step_then_the_store_is_read_once_and_twice_only_when_an_alert_was_due(
    service: AlertService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler polls the database every 2 s in every process: a step with nothing due
    reads the live alerts once; one that applies an activation reads them again after it."""
    from line311.messaging.feed import AlertScheduler

    alert_id = draft(service, kind=AlertKind.CCR_MESSAGE)
    service.submit(alert_id, actor="alice")
    service.approve(alert_id, actor="bob")  # approved, starts at T0
    reads: list[int] = []
    live = service.store.live

    def counted() -> list:  # type: ignore[type-arg]
        reads.append(1)
        return live()

    monkeypatch.setattr(service.store, "live", counted)
    scheduler = AlertScheduler(service, clock=clock)
    await scheduler.step()
    assert (len(reads), [a.state for a in scheduler.live]) == (1, [AlertState.APPROVED])
    clock.now = T0
    reads.clear()
    await scheduler.step()
    assert (len(reads), [a.state for a in scheduler.live]) == (2, [AlertState.ACTIVE])
    assert [e.action for e in service.audit(alert_id)][-1] is Action.ACTIVATE
