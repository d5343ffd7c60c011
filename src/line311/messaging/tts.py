"""Text to speech: engines, and a cache of rendered 8 kHz audio.

Theory of operation
-------------------
An engine (`TtsEngine`) turns text in one of the seven languages into a WAV file of whatever
format it produces. `TtsCache.render` asks the engine only when the cache has no rendering for
the *key* ``sha256(format version, engine identity, voice, text)``; the cached file is already
converted to 8 kHz mono s16 (see `line311.messaging.audio`), so rebuilding the library after a
change re-renders only the prompts whose text or voice changed.

Engines:

- `EspeakEngine` (default): espeak-ng, offline, fast (a prompt in tens of ms), robotic. Reads
  the catalogue's ``tts`` text (pinyin for Mandarin).
- `GoogleTtsEngine` (optional): Google Cloud Text-to-Speech, imported lazily only when chosen.
  It reads the display text (Chinese characters, not pinyin). Haitian Creole is not offered by
  Google, so languages it lacks go to a fallback engine (espeak-ng by default).

Text is passed to espeak-ng on stdin (never as an argument, so a text starting with ``-`` is
not an option) and the engine writes a proper WAV with ``-w``: its ``--stdout`` header carries
a bogus length that some readers take for an empty file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from line311.ivr.catalogue import ESPEAK_VOICES, LANGUAGES
from line311.messaging.audio import convert_to_telephony
from line311.messaging.errors import TtsError

__all__ = [
    "GOOGLE_VOICES",
    "EspeakEngine",
    "GoogleTtsEngine",
    "TtsCache",
    "TtsEngine",
    "make_engine",
]

logger = logging.getLogger(__name__)

#: Bump when the conversion or the key changes, so old cache entries are not reused.
_CACHE_FORMAT = "1"
_TIMEOUT_S = 60.0


@runtime_checkable
class TtsEngine(Protocol):
    """A speech engine for the seven languages."""

    @property
    def name(self) -> str:
        """Short name used in reports and cache keys (``espeak-ng``, ``google``)."""
        ...

    def reads_tts_text(self, language: str) -> bool:
        """True if the engine reads the catalogue's ``tts`` override for ``language``
        (else the display text)."""
        ...

    def identity(self, language: str) -> str:
        """Everything besides the text that determines the audio for ``language``
        (engine, voice, speed ...): part of the cache key."""
        ...

    def synthesize(self, text: str, language: str, dest: Path) -> None:
        """Write ``text`` spoken in ``language`` to ``dest`` as a WAV (any rate)."""
        ...


class EspeakEngine:
    """espeak-ng, offline. ``speed`` in words per minute (espeak's default is 175)."""

    def __init__(
        self,
        *,
        voices: Mapping[str, str] = ESPEAK_VOICES,
        speed: int = 150,
        executable: str | None = None,
    ) -> None:
        if not 80 <= speed <= 450:
            raise TtsError(f"espeak-ng speed must be 80..450 words per minute, got {speed}")
        self._voices = dict(voices)
        self._speed = speed
        self._executable = executable

    @property
    def name(self) -> str:
        return "espeak-ng"

    def reads_tts_text(self, language: str) -> bool:
        return True

    def voice(self, language: str) -> str:
        try:
            return self._voices[language]
        except KeyError:
            raise TtsError(f"espeak-ng: no voice for language {language!r}") from None

    def identity(self, language: str) -> str:
        return f"espeak-ng voice={self.voice(language)} speed={self._speed}"

    def _exe(self) -> str:
        exe = self._executable or shutil.which("espeak-ng")
        if exe is None:
            raise TtsError("espeak-ng is not installed (apt-get install espeak-ng)")
        return exe

    def synthesize(self, text: str, language: str, dest: Path) -> None:
        voice = self.voice(language)
        cmd = [self._exe(), "-v", voice, "-s", str(self._speed), "-b", "1", "-w", str(dest)]
        try:
            proc = subprocess.run(
                cmd,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TtsError(f"espeak-ng voice {voice} timed out on {text[:40]!r}") from None
        except OSError as exc:
            raise TtsError(f"cannot run espeak-ng: {exc}") from None
        if proc.returncode != 0 or not dest.is_file() or dest.stat().st_size <= 44:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise TtsError(f"espeak-ng voice {voice} failed on {text[:40]!r}: {err or 'no audio'}")


#: Google Cloud TTS language codes. Haitian Creole is not offered: it goes to the fallback.
GOOGLE_VOICES: Mapping[str, str] = MappingProxyType(
    {
        "en": "en-US",
        "es": "es-US",
        "cmn": "cmn-CN",
        "yue": "yue-HK",
        "ru": "ru-RU",
        "ko": "ko-KR",
    }
)


class GoogleTtsEngine:
    """Google Cloud Text-to-Speech (optional; ``pip install google-cloud-texttospeech`` and
    Application Default Credentials). Renders LINEAR16 at 8 kHz directly.

    Languages Google lacks (Haitian Creole) are spoken by ``fallback``.
    """

    def __init__(
        self,
        *,
        voices: Mapping[str, str] = GOOGLE_VOICES,
        voice_names: Mapping[str, str] | None = None,
        fallback: TtsEngine | None = None,
        client: Any = None,
    ) -> None:
        self._voices = dict(voices)
        self._voice_names = dict(voice_names or {})
        self._fallback: TtsEngine = fallback if fallback is not None else EspeakEngine()
        self._client = client
        self._module: Any = None

    @property
    def name(self) -> str:
        return "google"

    def reads_tts_text(self, language: str) -> bool:
        return self._uses_fallback(language) and self._fallback.reads_tts_text(language)

    def _uses_fallback(self, language: str) -> bool:
        return language not in self._voices

    def identity(self, language: str) -> str:
        if self._uses_fallback(language):
            return self._fallback.identity(language)
        name = self._voice_names.get(language, "default")
        return f"google lang={self._voices[language]} voice={name} rate=8000"

    def _load(self) -> tuple[Any, Any]:
        if self._module is None:
            try:
                from google.cloud import (  # type: ignore[import-not-found,attr-defined,unused-ignore]
                    texttospeech,
                )
            except ImportError as exc:
                raise TtsError(
                    "Google TTS was chosen but google-cloud-texttospeech is not installed "
                    f"(pip install google-cloud-texttospeech): {exc}"
                ) from None
            self._module = texttospeech
        if self._client is None:
            try:
                self._client = self._module.TextToSpeechClient()
            except Exception as exc:  # google.auth's DefaultCredentialsError and friends
                raise TtsError(
                    "Google TTS client cannot start (set GOOGLE_APPLICATION_CREDENTIALS or run "
                    f"'gcloud auth application-default login'): {exc}"
                ) from None
        return self._module, self._client

    def preflight(self) -> None:
        """Import the client library and create the client now, so a missing library or
        missing credentials fail once with a clear `TtsError` instead of once per prompt."""
        self._load()

    def synthesize(self, text: str, language: str, dest: Path) -> None:
        if self._uses_fallback(language):
            self._fallback.synthesize(text, language, dest)
            return
        tts, client = self._load()
        voice_kwargs: dict[str, str] = {"language_code": self._voices[language]}
        if language in self._voice_names:
            voice_kwargs["name"] = self._voice_names[language]
        try:
            response = client.synthesize_speech(
                input=tts.SynthesisInput(text=text),
                voice=tts.VoiceSelectionParams(**voice_kwargs),
                audio_config=tts.AudioConfig(
                    audio_encoding=tts.AudioEncoding.LINEAR16, sample_rate_hertz=8000
                ),
            )
        except Exception as exc:  # google.api_core errors: remote, but fatal for the build
            raise TtsError(f"Google TTS failed for {language} on {text[:40]!r}: {exc}") from None
        dest.write_bytes(response.audio_content)


def make_engine(name: str) -> TtsEngine:
    """The engine called ``name`` (``espeak`` / ``espeak-ng`` or ``google``), ready to use.

    Google's library and credentials are checked here (`TtsError` if unusable).
    """
    if name in ("espeak", "espeak-ng"):
        return EspeakEngine()
    if name == "google":
        engine = GoogleTtsEngine()
        engine.preflight()
        return engine
    raise TtsError(f"unknown TTS engine {name!r} (choose espeak or google)")


class TtsCache:
    """Rendered 8 kHz prompts under ``root`` (normally ``<cache_dir>/tts``), keyed by hash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def key(self, engine: TtsEngine, language: str, text: str) -> str:
        if language not in LANGUAGES:
            raise TtsError(f"unknown language {language!r}")
        material = "\x00".join((_CACHE_FORMAT, engine.identity(language), text))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def render(self, engine: TtsEngine, language: str, text: str) -> tuple[Path, bool]:
        """The cached 8 kHz rendering of ``text``, rendering it first if needed.

        Returns ``(path, fresh)``: ``fresh`` is True when the engine ran.
        """
        key = self.key(engine, language, text)
        path = self.path(key)
        if path.is_file():
            return path, False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, raw_name = tempfile.mkstemp(prefix=".raw.", suffix=".wav", dir=path.parent)
        os.close(fd)
        raw = Path(raw_name)
        try:
            engine.synthesize(text, language, raw)
            convert_to_telephony(raw, path)
        finally:
            raw.unlink(missing_ok=True)
        logger.debug("rendered %s %s -> %s", engine.name, language, path.name)
        return path, True
