"""espeak-ng and the audio converters for real: every language renders to playable 8 kHz."""

from __future__ import annotations

import math
import shutil
import struct
import wave
from pathlib import Path

import pytest

from line311.config import REPO_ROOT
from line311.ivr.catalogue import LANGUAGES, load_catalogue
from line311.messaging.audio import convert_to_telephony, read_wav_info, telephony_problem
from line311.messaging.errors import TtsError
from line311.messaging.tts import EspeakEngine, TtsCache

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
]

CATALOGUE = load_catalogue(REPO_ROOT / "content" / "catalogue")


def tone(path: Path, *, rate: int, channels: int, seconds: float) -> Path:
    frames = int(rate * seconds)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames))
        wav.writeframes(b"".join(struct.pack("<h", s) * channels for s in samples))
    return path


@pytest.mark.parametrize("lang", LANGUAGES)
def test_given_the_greeting_when_rendered_with_espeak_then_8khz_mono_speech_of_a_sane_length(
    tmp_path: Path, lang: str
) -> None:
    cache = TtsCache(tmp_path / "tts")
    path, fresh = cache.render(EspeakEngine(), lang, CATALOGUE.tts("greeting", lang))
    assert fresh
    assert telephony_problem(path) is None
    info = read_wav_info(path)
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert 4.0 < info.duration < 20.0, info.duration  # a two-sentence greeting


def test_given_a_rendering_in_the_cache_when_rendered_again_then_the_engine_is_not_run(
    tmp_path: Path,
) -> None:
    cache = TtsCache(tmp_path)
    first, fresh1 = cache.render(EspeakEngine(), "ru", "Добрый день")
    mtime = first.stat().st_mtime_ns
    second, fresh2 = cache.render(EspeakEngine(), "ru", "Добрый день")
    assert (fresh1, fresh2) == (True, False)
    assert second == first
    assert second.stat().st_mtime_ns == mtime


def test_mandarin_pinyin_renders_to_speech_not_silence(tmp_path: Path) -> None:
    path, _ = TtsCache(tmp_path).render(EspeakEngine(), "cmn", CATALOGUE.tts("digits/1", "cmn"))
    assert read_wav_info(path).duration > 0.2


def test_a_text_that_looks_like_an_option_is_spoken_not_parsed(tmp_path: Path) -> None:
    path, _ = TtsCache(tmp_path).render(EspeakEngine(), "en", "--help me")
    assert telephony_problem(path) is None


@pytest.mark.parametrize("tool", ["sox", "ffmpeg"])
def test_given_a_44khz_stereo_recording_when_converted_then_8khz_mono_of_the_same_length(
    tmp_path: Path, tool: str
) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    src = tone(tmp_path / "rec.wav", rate=44100, channels=2, seconds=1.5)
    dst = tmp_path / "out" / "rec.wav"
    convert_to_telephony(src, dst, tool=tool)
    info = read_wav_info(dst)
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert info.duration == pytest.approx(1.5, abs=0.05)
    assert [p.name for p in dst.parent.iterdir()] == ["rec.wav"]  # no temporary left behind


def test_given_a_file_that_is_not_audio_when_converted_then_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "notes.wav"
    src.write_text("not audio")
    dst = tmp_path / "out.wav"
    with pytest.raises(TtsError, match=r"converting .*notes\.wav to 8 kHz failed"):
        convert_to_telephony(src, dst)
    assert not dst.exists()
