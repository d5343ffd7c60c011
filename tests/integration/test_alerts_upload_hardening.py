"""Issue 15, point 14: alert uploads are decoded by an allowlisted ffmpeg demuxer, only up to
just past the longest allowed alert, and refused without naming server paths or quoting the
decoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from line311.messaging.errors import AudioRejected
from line311.messaging.recording import AlertAudioFiles, AudioLimits
from tests.integration.test_alerts_store import make_audio

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
]


@pytest.fixture
def files(tmp_path: Path) -> AlertAudioFiles:
    return AlertAudioFiles(
        tmp_path / "state", tmp_path / "sounds", limits=AudioLimits(max_seconds=5.0)
    )


def test_given_an_unreadable_upload_then_the_refusal_names_no_path_and_quotes_no_decoder(
    files: AlertAudioFiles, tmp_path: Path
) -> None:
    with pytest.raises(AudioRejected) as info:
        files.store_upload("a1", "en", b"not audio at all" * 10, "x.wav", "audio/wav")
    message = str(info.value)
    assert info.value.reason == "corrupt"
    assert str(tmp_path) not in message
    assert "/" not in message
    assert "ffmpeg" not in message.lower()
    assert "invalid data" not in message.lower()


def test_given_a_playlist_disguised_as_audio_then_ffmpeg_may_not_open_it(
    files: AlertAudioFiles, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.wav"
    secret.write_bytes(make_audio(tmp_path, "inner.wav"))
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3,\nfile://{secret}\n#EXT-X-ENDLIST\n"
    with pytest.raises(AudioRejected) as info:
        files.store_upload("a1", "en", playlist.encode(), "x.mp3", "audio/mpeg")
    assert info.value.reason == "corrupt"


def test_given_a_long_upload_then_decoding_stops_early_and_it_is_still_too_long(
    files: AlertAudioFiles, tmp_path: Path
) -> None:
    data = make_audio(tmp_path, "long.mp3", "sine=frequency=440:duration=120")
    with pytest.raises(AudioRejected) as info:
        files.store_upload("a1", "en", data, "long.mp3", "audio/mpeg")
    assert info.value.reason == "too-long"
    assert "6 s" in str(info.value)  # decoded up to max_seconds + 1, not all 120 s


def test_an_upload_within_the_limits_is_kept(files: AlertAudioFiles, tmp_path: Path) -> None:
    master = files.store_upload("a1", "en", make_audio(tmp_path, "ok.ogg"), "ok.ogg", None)
    assert 2.5 < master.measure.duration < 3.5
