"""The sound library builder with real espeak-ng and sox: formats, human recordings,
idempotence (no rewrite when nothing changed), pruning, check, and the CLI."""

from __future__ import annotations

import hashlib
import math
import shutil
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from line311.config import REPO_ROOT
from line311.ivr.catalogue import LANGUAGES, Catalogue, build_catalogue, load_catalogue
from line311.messaging.audio import read_wav_info
from line311.messaging.errors import SoundLibraryError, TtsError
from line311.messaging.library import Outcome, build_library, check_library, library_path
from line311.messaging.tts import EspeakEngine

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("espeak-ng") is None or shutil.which("sox") is None,
        reason="espeak-ng and sox needed",
    ),
]

REAL = load_catalogue(REPO_ROOT / "content" / "catalogue")


def subset(*ids: str) -> Catalogue:
    data: dict[str, Any] = {
        pid: {
            lang: {"text": REAL.text(pid, lang), "tts": REAL.tts(pid, lang)} for lang in LANGUAGES
        }
        for pid in ids
    }
    return build_catalogue([("core.yaml", {"prompts": data})])


def tone(path: Path, *, rate: int = 48000, channels: int = 2, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        n = int(rate * seconds)
        wav.writeframes(
            b"".join(struct.pack("<h", int(5000 * math.sin(i / 10))) * channels for i in range(n))
        )
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    human = tmp_path / "sounds"
    human.mkdir()
    return {"human": human, "out": tmp_path / "lib", "cache": tmp_path / "cache"}


def build(catalogue: Catalogue, dirs: dict[str, Path], **kw: Any) -> Any:
    return build_library(
        catalogue,
        human_dir=dirs["human"],
        out_dir=dirs["out"],
        engine=kw.pop("engine", EspeakEngine()),
        cache_dir=dirs["cache"],
        **kw,
    )


def test_given_greeting_and_apology_when_built_then_seven_languages_of_8khz_wav(
    dirs: dict[str, Path],
) -> None:
    report = build(subset("greeting", "apology"), dirs)
    assert len(report.by_outcome[Outcome.RENDERED]) == 14
    for lang in LANGUAGES:
        for pid in ("greeting", "apology"):
            info = read_wav_info(library_path(dirs["out"], lang, pid))
            assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
            assert info.duration > 3.0
    assert check_library(subset("greeting", "apology"), dirs["out"]) == []


def test_given_nothing_changed_when_rebuilt_then_no_file_is_rewritten(
    dirs: dict[str, Path],
) -> None:
    catalogue = subset("goodbye", "digits/7")
    build(catalogue, dirs)
    stamps = {p: p.stat().st_mtime_ns for p in dirs["out"].rglob("*.wav")}
    report = build(catalogue, dirs)
    assert report.by_outcome[Outcome.UNCHANGED] == sorted(report.by_outcome[Outcome.UNCHANGED])
    assert len(report.by_outcome[Outcome.UNCHANGED]) == 14
    assert report.written == []
    assert {p: p.stat().st_mtime_ns for p in dirs["out"].rglob("*.wav")} == stamps


def test_given_a_lost_manifest_when_rebuilt_then_identical_files_keep_their_mtime(
    dirs: dict[str, Path],
) -> None:
    catalogue = subset("goodbye")
    build(catalogue, dirs)
    stamps = {p: p.stat().st_mtime_ns for p in dirs["out"].rglob("*.wav")}
    (dirs["out"] / ".line311-manifest.json").unlink()
    report = build(catalogue, dirs)
    assert len(report.by_outcome[Outcome.SAME_CONTENT]) == 7
    assert {p: p.stat().st_mtime_ns for p in dirs["out"].rglob("*.wav")} == stamps


def test_given_a_human_recording_then_it_wins_is_converted_and_is_never_written(
    dirs: dict[str, Path],
) -> None:
    recording = tone(dirs["human"] / "es" / "greeting.wav", rate=44100, channels=2, seconds=2.0)
    before = digest(recording)
    report = build(subset("greeting"), dirs)
    assert report.human == ["es/greeting"]
    assert report.by_outcome[Outcome.HUMAN] == ["es/greeting"]
    info = read_wav_info(library_path(dirs["out"], "es", "greeting"))
    assert (info.rate, info.channels) == (8000, 1)
    assert info.duration == pytest.approx(2.0, abs=0.05)  # the recording, not the TTS
    assert digest(recording) == before
    assert sorted(p.name for p in recording.parent.iterdir()) == ["greeting.wav"]
    # rebuilding leaves it alone; replacing the recording replaces the output
    assert build(subset("greeting"), dirs).written == []
    tone(recording, rate=16000, channels=1, seconds=1.0)
    assert build(subset("greeting"), dirs).written == ["es/greeting"]
    assert read_wav_info(library_path(dirs["out"], "es", "greeting")).duration == pytest.approx(
        1.0, abs=0.05
    )


def test_given_a_human_recording_of_a_nested_prompt_id_then_it_is_found(
    dirs: dict[str, Path],
) -> None:
    tone(dirs["human"] / "ko" / "digits" / "7.wav")
    report = build(subset("digits/7"), dirs)
    assert report.human == ["ko/digits/7"]


def test_given_a_changed_text_when_rebuilt_then_only_that_prompt_is_rendered(
    dirs: dict[str, Path],
) -> None:
    build(subset("goodbye", "invalid_choice"), dirs)
    data: dict[str, Any] = {
        pid: {lang: REAL.tts(pid, lang) for lang in LANGUAGES}
        for pid in ("goodbye", "invalid_choice")
    }
    data["goodbye"]["ru"] = "Всего доброго."
    report = build(build_catalogue([("core.yaml", {"prompts": data})]), dirs)
    assert report.written == ["ru/goodbye"]
    assert report.by_outcome[Outcome.RENDERED] == ["ru/goodbye"]


def test_given_a_prompt_removed_from_the_catalogue_when_rebuilt_then_its_files_go(
    dirs: dict[str, Path],
) -> None:
    build(subset("goodbye", "digits/3"), dirs)
    report = build(subset("goodbye"), dirs)
    assert report.removed == sorted(f"{lang}/digits/3" for lang in LANGUAGES)
    assert not (dirs["out"] / "en" / "digits").exists()  # emptied directories go too
    assert not library_path(dirs["out"], "en", "digits/3").exists()
    assert library_path(dirs["out"], "en", "goodbye").exists()


def test_given_an_engine_failure_then_the_build_error_names_each_prompt(
    dirs: dict[str, Path],
) -> None:
    class Broken(EspeakEngine):
        def synthesize(self, text: str, language: str, dest: Path) -> None:
            if language == "ko":
                raise TtsError("voice unavailable")
            super().synthesize(text, language, dest)

    with pytest.raises(SoundLibraryError, match=r"ko/goodbye: voice unavailable"):
        build(subset("goodbye"), dirs, engine=Broken())
    # the other languages were built and are reused next time
    assert library_path(dirs["out"], "en", "goodbye").exists()
    report = build(subset("goodbye"), dirs)
    assert len(report.by_outcome[Outcome.UNCHANGED]) == 6


def test_check_names_missing_and_wrong_format_files(dirs: dict[str, Path]) -> None:
    catalogue = subset("goodbye")
    build(catalogue, dirs)
    library_path(dirs["out"], "yue", "goodbye").unlink()
    tone(library_path(dirs["out"], "ht", "goodbye"), rate=22050, channels=1)
    assert check_library(catalogue, dirs["out"]) == [
        "yue/goodbye: missing",
        "ht/goodbye: rate 22050 Hz (want 8000)",
    ]


def test_output_must_not_be_the_human_recordings(dirs: dict[str, Path]) -> None:
    with pytest.raises(SoundLibraryError, match="must not be the human"):
        build_library(
            subset("goodbye"),
            human_dir=dirs["human"],
            out_dir=dirs["human"],
            engine=EspeakEngine(),
            cache_dir=dirs["cache"],
        )


def test_cli_sounds_build_then_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from line311.cli import app

    monkeypatch.setenv("LINE311_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LINE311_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    result = runner.invoke(app, ["sounds", "build", "--language", "ht"])
    assert result.exit_code == 0, result.output
    assert f"{len(REAL)} prompt files" in result.output
    out = tmp_path / "state" / "sounds"
    assert read_wav_info(out / "ht" / "greeting.wav").rate == 8000
    result = runner.invoke(app, ["sounds", "check", "--language", "ht"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sounds", "check", "--language", "en"])
    assert result.exit_code == 1
    assert "en/greeting: missing" in result.output
