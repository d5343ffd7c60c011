"""Alert audio: accept an upload, synthesise typed text, check the result, publish it.

Theory of operation
-------------------
Every alert audio, whatever its origin (an uploaded file, typed text read by a TTS engine, a
recording made on the supervisor phone line), ends up as a *master*: an 8 kHz mono s16 WAV
at ``<state_dir>/alert_audio/<alert id>/<lang>.wav``, measured (duration, RMS level) and
refused with a reason when too short, silent or too long (`AudioLimits`, from settings).

Publishing copies the masters into the prompt library, where the IVR plays them as the prompt
``alerts/<alert id>``::

    <state_dir>/sounds/<lang>/alerts/<alert id>.wav      (what `line311 asterisk up` syncs)
    <Asterisk's /var/lib/line311/sounds>/<lang>/alerts/<alert id>.wav   (at once, if running)

A targeted language without audio of its own gets the English master, so a caller always
hears the alert in their language or in English (see `line311.messaging.alerts`); such a
call plays it from ``en/``, so the English master is then published there too. Files
appear atomically (write to a temporary name, rename). Unpublishing removes the copies: a
call that is playing one finishes cleanly (the open file stays readable), new calls can't
play it. Masters are kept for the audit trail.

Conversion prefers ffmpeg (it reads m4a/aac/opus/webm, which sox does not), else sox.
"""

from __future__ import annotations

import array
import hashlib
import logging
import math
import os
import shutil
import sys
import tempfile
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from line311.ivr.catalogue import LANGUAGES
from line311.messaging.alerts import ALERT_PROMPT_PREFIX, validate_alert_id
from line311.messaging.audio import (
    atomic_write_bytes,
    convert_to_telephony,
    read_wav_info,
    telephony_problem,
)
from line311.messaging.errors import AlertError, AudioRejected, TtsError, UnsupportedAudio
from line311.messaging.tts import TtsCache, TtsEngine

if TYPE_CHECKING:
    from line311.config import Settings

__all__ = [
    "AUDIO_EXTENSIONS",
    "AUDIO_MEDIA_TYPES",
    "AlertAudioFiles",
    "AudioLimits",
    "AudioMeasure",
    "asterisk_sounds_dir",
    "check_quality",
    "check_upload_type",
    "convert_upload",
    "measure_wav",
]

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".flac",
     ".webm", ".aif", ".aiff", ".amr", ".gsm", ".ulaw", ".alaw"}
)  # fmt: skip
"""File name extensions taken for an alert upload."""

AUDIO_MEDIA_TYPES = frozenset(
    {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/mpeg", "audio/mp3",
     "audio/ogg", "audio/opus", "audio/mp4", "audio/x-m4a", "audio/m4a", "audio/aac",
     "audio/flac", "audio/x-flac", "audio/webm", "audio/aiff", "audio/x-aiff", "audio/amr"}
)  # fmt: skip
"""Media types taken for an alert upload (besides a generic type with a known extension)."""

_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


@dataclass(frozen=True, slots=True)
class AudioLimits:
    """What an alert recording must be: between ``min_seconds`` and ``max_seconds`` long,
    with an RMS level of at least ``silence_dbfs`` (dB relative to full scale)."""

    min_seconds: float = 1.0
    max_seconds: float = 180.0
    silence_dbfs: float = -45.0

    @classmethod
    def from_settings(cls, settings: Settings) -> AudioLimits:
        return cls(
            min_seconds=settings.alerts_min_seconds,
            max_seconds=settings.alerts_max_seconds,
            silence_dbfs=settings.alerts_silence_dbfs,
        )


@dataclass(frozen=True, slots=True)
class AudioMeasure:
    """Duration (seconds) and RMS level (dBFS; -inf for digital silence) of a WAV."""

    duration: float
    rms_dbfs: float


def check_upload_type(filename: str, media_type: str | None) -> str:
    """The upload's extension when it is an audio type we take; else `UnsupportedAudio`."""
    ext = Path(filename or "").suffix.lower()
    media = (media_type or "").split(";", 1)[0].strip().lower()
    if media in AUDIO_MEDIA_TYPES or (media in _GENERIC_TYPES and ext in AUDIO_EXTENSIONS):
        return ext if ext in AUDIO_EXTENSIONS else ".bin"
    if media.startswith("audio/") and ext in AUDIO_EXTENSIONS:
        return ext
    raise UnsupportedAudio(
        f"unsupported upload {filename or 'without a name'!r} ({media or 'no media type'}): "
        f"send audio ({', '.join(sorted(e.lstrip('.') for e in AUDIO_EXTENSIONS))})"
    )


def measure_wav(path: Path) -> AudioMeasure:
    """Duration and RMS level of an 8 kHz mono s16 WAV (`AudioRejected` if unreadable)."""
    try:
        info = read_wav_info(path)
        with wave.open(str(path), "rb") as wav:
            frames = wav.readframes(info.frames)
    except (TtsError, wave.Error, EOFError, OSError) as exc:
        raise AudioRejected(f"audio is not readable: {exc}", "corrupt") from None
    if info.sample_width != 2:
        raise AudioRejected("audio is not 16-bit", "corrupt")
    samples = array.array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % 2])
    if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
        samples.byteswap()
    if not samples:
        return AudioMeasure(info.duration, -math.inf)
    mean_square = math.fsum(s * s for s in samples) / len(samples)
    rms = math.sqrt(mean_square) / 32768.0
    return AudioMeasure(info.duration, 20 * math.log10(rms) if rms > 0 else -math.inf)


def check_quality(measure: AudioMeasure, limits: AudioLimits) -> None:
    """Refuse audio that is too short, too long or silent (`AudioRejected` with a reason)."""
    if measure.duration < limits.min_seconds:
        raise AudioRejected(
            f"the recording is too short ({measure.duration:.1f} s; at least "
            f"{limits.min_seconds:g} s)",
            "too-short",
        )
    if measure.duration > limits.max_seconds:
        raise AudioRejected(
            f"the recording is too long ({measure.duration:.0f} s; at most "
            f"{limits.max_seconds:g} s)",
            "too-long",
        )
    if measure.rms_dbfs < limits.silence_dbfs:
        level = (
            "digital silence" if math.isinf(measure.rms_dbfs) else f"{measure.rms_dbfs:.0f} dBFS"
        )
        raise AudioRejected(
            f"the recording is silent ({level}; at least {limits.silence_dbfs:g} dBFS)", "silent"
        )


UPLOAD_DECODE_SECONDS = 30.0
"""Longest time the decoder may spend on one upload."""


def convert_upload(src: Path, dst: Path, *, max_seconds: float | None = None) -> None:
    """Convert any audio file to an 8 kHz mono s16 WAV (`AudioRejected` when it can't be).

    Decoding stops after ``max_seconds`` of audio and `UPLOAD_DECODE_SECONDS` of run time;
    ffmpeg may only use the demuxers in `line311.messaging.audio.FFMPEG_DEMUXERS`. The
    refusal names no server path and quotes no decoder output (those go to the log)."""
    tools = [t for t in ("ffmpeg", "sox") if shutil.which(t)]
    if not tools:
        raise TtsError("neither ffmpeg nor sox is installed: cannot convert audio")
    try:
        convert_to_telephony(
            src, dst, tool=tools[0], max_seconds=max_seconds, timeout=UPLOAD_DECODE_SECONDS
        )
    except TtsError as exc:
        logger.warning("an uploaded file could not be converted: %s", _short(exc))
        raise AudioRejected(
            "the file is not audio we can read (or took too long to decode)", "corrupt"
        ) from None


def _short(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def asterisk_sounds_dir(settings: Settings) -> Path | None:
    """Host path of Asterisk's view of the prompt library, or None when there is no
    Asterisk installation to copy into (files then reach it on the next ``asterisk up``)."""
    from line311.asterisk.manager import SOUNDS_ASTERISK_DIR, AsteriskManager

    try:
        return AsteriskManager(settings).installation.host_path(SOUNDS_ASTERISK_DIR)
    except Exception as exc:  # no installation (AsteriskError) or an unreadable root
        logger.warning("alert audio will reach Asterisk on its next start: %s", exc)
        return None


@dataclass(frozen=True, slots=True)
class Master:
    """A checked master file of an alert in one language."""

    path: Path
    measure: AudioMeasure
    sha256: str


class AlertAudioFiles:
    """Where alert audio lives on disk, and the operations on it (see the module docstring).

    ``state_dir`` holds the masters; ``library_dir`` is the prompt library
    (``<state_dir>/sounds``); ``asterisk_dir``, when given, is Asterisk's copy of it.
    """

    def __init__(
        self,
        state_dir: Path,
        library_dir: Path,
        *,
        asterisk_dir: Path | Callable[[], Path | None] | None = None,
        limits: AudioLimits = AudioLimits(),
        tts_cache: TtsCache | None = None,
    ) -> None:
        self.masters_dir = state_dir / "alert_audio"
        self.library_dir = library_dir
        self._asterisk_dir = asterisk_dir
        self.limits = limits
        self.tts_cache = tts_cache

    @classmethod
    def from_settings(cls, settings: Settings, *, copy_to_asterisk: bool = True) -> AlertAudioFiles:
        return cls(
            settings.state_dir,
            settings.state_dir / "sounds",
            asterisk_dir=(lambda: asterisk_sounds_dir(settings)) if copy_to_asterisk else None,
            limits=AudioLimits.from_settings(settings),
            tts_cache=TtsCache(settings.cache_dir / "tts"),
        )

    @property
    def asterisk_dir(self) -> Path | None:
        """Asterisk's copy of the library (resolved on first use: finding the Asterisk
        installation is only needed when publishing)."""
        if callable(self._asterisk_dir):
            self._asterisk_dir = self._asterisk_dir()
        return self._asterisk_dir

    # ------------------------------------------------------------------ paths
    def master_path(self, alert_id: str, language: str) -> Path:
        _check_language(language)
        return self.masters_dir / validate_alert_id(alert_id) / f"{language}.wav"

    def relative_master(self, alert_id: str, language: str) -> str:
        return f"alert_audio/{alert_id}/{language}.wav"

    def library_path(self, alert_id: str, language: str, root: Path | None = None) -> Path:
        """``<root>/<lang>/alerts/<id>.wav``: what ``sound:<root>/<lang>/alerts/<id>`` plays."""
        _check_language(language)
        base = root if root is not None else self.library_dir
        return base / language / f"{ALERT_PROMPT_PREFIX}{validate_alert_id(alert_id)}.wav"

    # ------------------------------------------------------------------ masters
    def _accept(self, converted: Path, alert_id: str, language: str) -> Master:
        problem = telephony_problem(converted)
        if problem is not None:
            raise AudioRejected(f"converted audio is not playable: {problem}", "corrupt")
        measure = measure_wav(converted)
        check_quality(measure, self.limits)
        dest = self.master_path(alert_id, language)
        dest.parent.mkdir(parents=True, exist_ok=True)
        converted.replace(dest)
        return Master(dest, measure, _sha256(dest))

    def _workfile(self, alert_id: str, suffix: str) -> Path:
        self.masters_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{alert_id}.", suffix=suffix, dir=self.masters_dir)
        os.close(fd)
        return Path(name)

    def store_upload(
        self, alert_id: str, language: str, data: bytes, filename: str, media_type: str | None
    ) -> Master:
        """Convert an uploaded file and keep it as the master of ``language``.

        `UnsupportedAudio` (not an audio type), `AudioRejected` (corrupt, too short/long,
        silent)."""
        ext = check_upload_type(filename, media_type)
        if not data:
            raise AudioRejected("the upload is empty", "corrupt")
        raw = self._workfile(alert_id, ext)
        out = self._workfile(alert_id, ".wav")
        try:
            raw.write_bytes(data)
            # one second past the limit is enough to tell "too long" without decoding it all
            convert_upload(raw, out, max_seconds=self.limits.max_seconds + 1)
            return self._accept(out, alert_id, language)
        finally:
            raw.unlink(missing_ok=True)
            out.unlink(missing_ok=True)

    def store_wav(self, alert_id: str, language: str, source: Path) -> Master:
        """Keep a WAV of any rate (e.g. an ARI recording) as the master of ``language``."""
        out = self._workfile(alert_id, ".wav")
        try:
            convert_upload(source, out)
            return self._accept(out, alert_id, language)
        finally:
            out.unlink(missing_ok=True)

    def store_tts(self, alert_id: str, language: str, text: str, engine: TtsEngine) -> Master:
        """Synthesise ``text`` in ``language`` and keep it as the master (`TtsError` when the
        engine fails; `AudioRejected` when the result is too short or too long)."""
        if not text.strip():
            raise AudioRejected(f"no text to read in {language}", "too-short")
        cache = self.tts_cache or TtsCache(self.masters_dir / ".tts")
        rendered, _fresh = cache.render(engine, language, text)
        out = self._workfile(alert_id, ".wav")
        try:
            shutil.copyfile(rendered, out)
            return self._accept(out, alert_id, language)
        finally:
            out.unlink(missing_ok=True)

    def masters(self, alert_id: str) -> dict[str, Path]:
        """The alert's masters by language."""
        return {
            lang: path for lang in LANGUAGES if (path := self.master_path(alert_id, lang)).is_file()
        }

    # ------------------------------------------------------------------ publishing
    def _roots(self) -> list[Path]:
        return [self.library_dir] + ([self.asterisk_dir] if self.asterisk_dir else [])

    def publish(self, alert_id: str, languages: Iterable[str]) -> list[str]:
        """Copy the masters to ``<lang>/alerts/<id>.wav`` for each of ``languages`` (English
        where a language has no master), in the library and in Asterisk's copy. Returns the
        languages published.

        A caller whose language has no master plays the English audio from ``en/`` (the
        call is told its audio's language, `line311.messaging.alerts.call_alerts`), so the
        English master is published in ``en/`` too whenever a language falls back to it,
        even for an alert that does not target English callers (they never play it: it has
        no audio entry for them)."""
        masters = self.masters(alert_id)
        wanted = list(dict.fromkeys(languages))
        if "en" in masters and "en" not in wanted and any(lang not in masters for lang in wanted):
            wanted.append("en")
        done = []
        for lang in wanted:
            source = masters.get(lang) or masters.get("en")
            if source is None:
                continue
            data = source.read_bytes()
            for root in self._roots():
                try:
                    atomic_write_bytes(self.library_path(alert_id, lang, root), data)
                except OSError as exc:
                    if root == self.library_dir:
                        raise
                    logger.warning("cannot copy alert %s into Asterisk's sounds: %s", alert_id, exc)
            done.append(lang)
        logger.info("alert %s published in %s", alert_id, ",".join(done) or "no language")
        return done

    def unpublish(self, alert_id: str) -> None:
        """Remove the alert's prompt files (masters stay)."""
        for root in self._roots():
            for lang in LANGUAGES:
                self.library_path(alert_id, lang, root).unlink(missing_ok=True)

    def published(self, alert_id: str) -> list[str]:
        """Languages whose library file exists."""
        return [lang for lang in LANGUAGES if self.library_path(alert_id, lang).is_file()]


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise AlertError(f"unknown language {language!r}")
