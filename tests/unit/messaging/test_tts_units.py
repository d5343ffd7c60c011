"""TTS engines, cache keys and WAV format checks that need no external program."""

from __future__ import annotations

import importlib.util
import struct
import sys
import types
import wave
from pathlib import Path
from typing import Any

import pytest

from line311.messaging.audio import read_wav_info, telephony_problem
from line311.messaging.errors import MessagingError, TtsError
from line311.messaging.tts import (
    GOOGLE_VOICES,
    EspeakEngine,
    GoogleTtsEngine,
    TtsCache,
    TtsEngine,
    make_engine,
)


def write_wav(
    path: Path, *, rate: int = 8000, channels: int = 1, width: int = 2, frames: int = 800
) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(b"\x01" * (frames * channels * width))
    return path


class RecordingEngine:
    """A fake engine that writes a short 8 kHz WAV and remembers what it was asked."""

    def __init__(self, name: str = "fake") -> None:
        self._name = name
        self.calls: list[tuple[str, str]] = []

    @property
    def name(self) -> str:
        return self._name

    def reads_tts_text(self, language: str) -> bool:
        return True

    def identity(self, language: str) -> str:
        return f"{self._name}:{language}"

    def synthesize(self, text: str, language: str, dest: Path) -> None:
        self.calls.append((text, language))
        write_wav(dest)


# ------------------------------------------------------------------ WAV format


def test_given_an_8khz_mono_16bit_wav_then_it_is_playable(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "ok.wav", frames=4000)
    assert telephony_problem(path) is None
    info = read_wav_info(path)
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert info.duration == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"rate": 22050}, "rate 22050 Hz (want 8000)"),
        ({"channels": 2}, "2 channels (want mono)"),
        ({"width": 1}, "8-bit samples (want 16-bit)"),
        ({"frames": 0}, "no audio"),
    ],
)
def test_given_a_wav_asterisk_cannot_play_natively_then_the_problem_is_named(
    tmp_path: Path, kwargs: dict[str, int], problem: str
) -> None:
    path = write_wav(tmp_path / "x.wav", **kwargs)
    assert telephony_problem(path) == problem


def test_given_a_missing_or_garbage_file_then_it_is_not_playable(tmp_path: Path) -> None:
    assert telephony_problem(tmp_path / "none.wav") == "missing"
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + struct.pack("<I", 4) + b"junk")
    assert "not a readable PCM WAV" in (telephony_problem(junk) or "")
    with pytest.raises(TtsError):
        read_wav_info(junk)


# ------------------------------------------------------------------ engines


def test_espeak_engine_uses_the_voices_of_the_lab_and_is_an_engine() -> None:
    engine = EspeakEngine()
    assert isinstance(engine, TtsEngine)
    assert engine.voice("cmn") == "cmn-latn-pinyin"
    assert engine.voice("ht") == "ht"
    assert engine.identity("es") == "espeak-ng voice=es-419 speed=150"
    assert engine.reads_tts_text("cmn")
    with pytest.raises(TtsError, match="no voice for language 'fr'"):
        engine.voice("fr")


def test_espeak_engine_refuses_an_absurd_speed() -> None:
    with pytest.raises(TtsError, match="speed"):
        EspeakEngine(speed=5)


def test_given_espeak_missing_when_synthesizing_then_a_clear_error(tmp_path: Path) -> None:
    engine = EspeakEngine(executable=str(tmp_path / "no-espeak-ng"))
    with pytest.raises(TtsError, match="cannot run espeak-ng"):
        engine.synthesize("hello", "en", tmp_path / "out.wav")


def test_make_engine_knows_espeak_and_google_only() -> None:
    assert isinstance(make_engine("espeak"), EspeakEngine)
    with pytest.raises(TtsError, match="unknown TTS engine 'festival'"):
        make_engine("festival")


def test_google_engine_reads_display_text_and_sends_haitian_creole_to_the_fallback(
    tmp_path: Path,
) -> None:
    fallback = RecordingEngine("fallback")
    engine = GoogleTtsEngine(fallback=fallback)
    assert "ht" not in GOOGLE_VOICES
    assert not engine.reads_tts_text("cmn")  # Google reads Chinese characters, not pinyin
    assert engine.reads_tts_text("ht")  # ... but the fallback reads the tts text
    assert engine.identity("ht") == "fallback:ht"
    assert engine.identity("yue") == "google lang=yue-HK voice=default rate=8000"
    engine.synthesize("Bonjou", "ht", tmp_path / "ht.wav")  # no Google import needed
    assert fallback.calls == [("Bonjou", "ht")]


@pytest.mark.skipif(
    importlib.util.find_spec("google") is not None, reason="google libraries are installed"
)
def test_given_google_not_installed_when_used_then_a_clear_error(tmp_path: Path) -> None:
    engine = GoogleTtsEngine(fallback=RecordingEngine())
    with pytest.raises(TtsError, match="google-cloud-texttospeech is not installed") as info:
        engine.synthesize("Hello", "en", tmp_path / "x.wav")
    assert isinstance(info.value, MessagingError)
    with pytest.raises(TtsError, match="pip install google-cloud-texttospeech"):
        make_engine("google")  # fails at once, not once per prompt


# ------------------------------------------------------------------ cache keys


def test_cache_key_depends_on_engine_identity_language_and_text(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path)
    a, b = RecordingEngine("a"), RecordingEngine("b")
    key = cache.key(a, "en", "hello")
    assert key == cache.key(a, "en", "hello")
    assert (
        len(
            {
                key,
                cache.key(a, "en", "hello!"),
                cache.key(a, "es", "hello"),
                cache.key(b, "en", "hello"),
            }
        )
        == 4
    )
    assert cache.path(key) == tmp_path / key[:2] / f"{key}.wav"


def test_cache_refuses_an_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(TtsError, match="unknown language 'xx'"):
        TtsCache(tmp_path).key(RecordingEngine(), "xx", "hello")


class FakeGoogleModule(types.ModuleType):
    """Stands in for ``google.cloud.texttospeech``: records the request it is given."""

    class AudioEncoding:
        LINEAR16 = "LINEAR16"

    def __init__(self) -> None:
        super().__init__("google.cloud.texttospeech")
        self.requests: list[dict[str, Any]] = []
        self.SynthesisInput = dict
        self.VoiceSelectionParams = dict
        self.AudioConfig = dict
        module = self

        class Client:
            def synthesize_speech(self, **request: Any) -> Any:
                module.requests.append(request)
                return types.SimpleNamespace(audio_content=b"RIFF-audio")

        self.TextToSpeechClient = Client


def test_given_google_configured_then_it_asks_for_8khz_linear16_in_the_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGoogleModule()
    google = types.ModuleType("google")
    cloud = types.ModuleType("google.cloud")
    cloud.texttospeech = fake  # type: ignore[attr-defined]
    google.cloud = cloud  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.cloud", cloud)
    monkeypatch.setitem(sys.modules, "google.cloud.texttospeech", fake)
    engine = GoogleTtsEngine(voice_names={"ko": "ko-KR-Standard-A"}, fallback=RecordingEngine())
    engine.preflight()
    engine.synthesize("안녕하세요", "ko", tmp_path / "ko.wav")
    assert (tmp_path / "ko.wav").read_bytes() == b"RIFF-audio"
    assert fake.requests == [
        {
            "input": {"text": "안녕하세요"},
            "voice": {"language_code": "ko-KR", "name": "ko-KR-Standard-A"},
            "audio_config": {"audio_encoding": "LINEAR16", "sample_rate_hertz": 8000},
        }
    ]
    assert engine.identity("ko") == "google lang=ko-KR voice=ko-KR-Standard-A rate=8000"


def test_given_google_without_credentials_then_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeGoogleModule()

    def no_credentials() -> None:
        raise RuntimeError("Your default credentials were not found")

    fake.TextToSpeechClient = no_credentials
    engine = GoogleTtsEngine(fallback=RecordingEngine())
    engine._module = fake  # the import itself is covered above
    with pytest.raises(
        TtsError, match=r"GOOGLE_APPLICATION_CREDENTIALS.*credentials were not found"
    ):
        engine.preflight()
