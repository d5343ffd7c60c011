"""Publishing an approved alert's audio: every caller it targets plays a file that exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from line311.messaging.alerts import (
    Alert,
    AlertKind,
    AlertState,
    AudioRef,
    AudioSource,
    Targeting,
    call_alerts,
)
from line311.messaging.recording import AlertAudioFiles

T0 = datetime(2025, 7, 4, 9, 0, tzinfo=UTC)
UPLOAD = AudioRef(AudioSource.UPLOAD, "upload.wav")


def approved_alert(languages: tuple[str, ...], audio: tuple[str, ...]) -> Alert:
    return Alert(
        id="heat",
        title="Cooling centers open",
        kind=AlertKind.IVR_ANNOUNCEMENT,
        author="alice",
        created_at=T0 - timedelta(hours=1),
        starts_at=T0,
        ends_at=T0 + timedelta(hours=6),
        targeting=Targeting(frozenset(languages)),
        audio=dict.fromkeys(audio, UPLOAD),
        state=AlertState.APPROVED,
        approved_by="bob",
    )


def files_with_masters(tmp_path: Path, alert: Alert) -> AlertAudioFiles:
    files = AlertAudioFiles(
        tmp_path / "state", tmp_path / "state" / "sounds", asterisk_dir=tmp_path / "asterisk"
    )
    for lang in alert.audio:
        master = files.master_path(alert.id, lang)
        master.parent.mkdir(parents=True, exist_ok=True)
        master.write_bytes(f"RIFF {lang} master".encode())
    return files


@pytest.mark.parametrize(
    ("languages", "audio"),
    [
        (("ru",), ("en",)),  # Russian callers, English audio only
        (("es", "ru"), ("en", "es")),  # Spanish has its own, Russian falls back to English
        ((), ("en", "ko")),  # every caller
        (("ko",), ("ko",)),
    ],
)
def test_given_an_approved_alert_when_published_then_each_targeted_caller_plays_a_file_that_exists(
    tmp_path: Path, languages: tuple[str, ...], audio: tuple[str, ...]
) -> None:
    alert = approved_alert(languages, audio)
    files = files_with_masters(tmp_path, alert)

    files.publish(alert.id, alert.targeting.target_languages())

    [pushed] = call_alerts([alert], T0)
    for caller_language in alert.targeting.target_languages():
        chosen = pushed.prompt_for(caller_language)
        assert chosen is not None
        prompt_id, audio_language = chosen
        assert prompt_id == f"alerts/{alert.id}"
        for root in (files.library_dir, tmp_path / "asterisk"):
            played = files.library_path(alert.id, audio_language, root)
            assert played.is_file(), f"a {caller_language} caller plays a missing {played}"
            assert played.read_bytes() == files.master_path(alert.id, audio_language).read_bytes()


def test_given_a_published_fallback_when_withdrawn_then_every_copy_is_removed(
    tmp_path: Path,
) -> None:
    alert = approved_alert(("ru",), ("en",))
    files = files_with_masters(tmp_path, alert)
    files.publish(alert.id, alert.targeting.target_languages())

    files.unpublish(alert.id)

    assert files.published(alert.id) == []
    assert not any((tmp_path / "asterisk").rglob("*.wav"))
