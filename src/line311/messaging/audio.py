"""Telephone audio: convert any sound file to what Asterisk plays natively, and inspect WAVs.

Asterisk's ``sound:`` playback of a ``.wav`` file expects 8000 Hz, mono, 16-bit signed
little-endian PCM (its ``slin`` format). espeak-ng writes 22.05 kHz, recordings come at 44.1 or
48 kHz: those must be resampled, or Asterisk refuses or garbles them. Conversion runs sox when
installed (better resampler), else ffmpeg; both are edge dependencies found on ``PATH``.
Outputs are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from line311.messaging.errors import TtsError

__all__ = [
    "TELEPHONY_CHANNELS",
    "TELEPHONY_RATE",
    "TELEPHONY_SAMPLE_WIDTH",
    "WavInfo",
    "atomic_write_bytes",
    "convert_to_telephony",
    "read_wav_info",
    "telephony_problem",
]

logger = logging.getLogger(__name__)

TELEPHONY_RATE = 8000
TELEPHONY_CHANNELS = 1
TELEPHONY_SAMPLE_WIDTH = 2  # bytes: signed 16-bit

_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class WavInfo:
    """The format of a WAV file as the ``wave`` module reads it."""

    rate: int
    channels: int
    sample_width: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def read_wav_info(path: Path) -> WavInfo:
    """Read the header of a PCM WAV file (raises `TtsError` when it is not one)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return WavInfo(
                rate=wav.getframerate(),
                channels=wav.getnchannels(),
                sample_width=wav.getsampwidth(),
                frames=wav.getnframes(),
            )
    except (wave.Error, EOFError, OSError) as exc:
        raise TtsError(f"{path}: not a readable PCM WAV file ({exc})") from None


def telephony_problem(path: Path) -> str | None:
    """Why ``path`` is not an 8 kHz mono 16-bit WAV with some audio, or None when it is."""
    if not path.is_file():
        return "missing"
    try:
        info = read_wav_info(path)
    except TtsError as exc:
        return str(exc)
    problems = []
    if info.rate != TELEPHONY_RATE:
        problems.append(f"rate {info.rate} Hz (want {TELEPHONY_RATE})")
    if info.channels != TELEPHONY_CHANNELS:
        problems.append(f"{info.channels} channels (want mono)")
    if info.sample_width != TELEPHONY_SAMPLE_WIDTH:
        problems.append(f"{8 * info.sample_width}-bit samples (want 16-bit)")
    if info.frames == 0:
        problems.append("no audio")
    return "; ".join(problems) or None


def _converter(tool: str | None) -> str:
    names = (tool,) if tool else ("sox", "ffmpeg")
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise TtsError(f"{' or '.join(names)} not installed: cannot convert audio to 8 kHz")


FFMPEG_DEMUXERS = "wav,mp3,ogg,flac,mov,aac,matroska,webm,aiff,amr,gsm,mulaw,alaw"
"""The only input formats ffmpeg may pick for an upload (no playlists, no concat lists, no
image or video demuxers), and it may read local files only (``-protocol_whitelist file``)."""


def _command(tool: str, src: Path, dst: Path, max_seconds: float | None = None) -> list[str]:
    if Path(tool).name.startswith("sox"):
        trim = ["trim", "0", f"{max_seconds:g}"] if max_seconds is not None else []
        return [
            tool, "-q", str(src),
            "-t", "wav", "-r", str(TELEPHONY_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
            str(dst), *trim,
        ]  # fmt: skip
    limit = ["-t", f"{max_seconds:g}"] if max_seconds is not None else []
    return [
        tool, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-protocol_whitelist", "file", "-format_whitelist", FFMPEG_DEMUXERS, *limit,
        "-i", str(src),
        "-ar", str(TELEPHONY_RATE), "-ac", "1", "-c:a", "pcm_s16le", "-map_metadata", "-1",
        "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "wav", str(dst),
    ]  # fmt: skip


def convert_to_telephony(
    src: Path,
    dst: Path,
    *,
    tool: str | None = None,
    max_seconds: float | None = None,
    timeout: float | None = None,
) -> None:
    """Convert ``src`` (any format sox or ffmpeg reads) to an 8 kHz mono s16 WAV at ``dst``.

    ``tool`` forces ``"sox"`` or ``"ffmpeg"``; by default sox, else ffmpeg. ``dst``'s
    directory is created; ``dst`` appears atomically or not at all. ``max_seconds`` stops
    decoding there (a longer input is cut, not decoded in full); ``timeout`` bounds the
    decoder's run time (default 60 s).
    """
    timeout_s = timeout if timeout is not None else _TIMEOUT_S
    exe = _converter(tool)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=".wav", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = _command(exe, src, tmp, max_seconds)
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise TtsError(f"converting {src} to 8 kHz failed ({Path(cmd[0]).name}): {err}")
        problem = telephony_problem(tmp)
        if problem is not None:
            raise TtsError(f"converting {src} produced an unplayable file: {problem}")
        tmp.replace(dst)
    except subprocess.TimeoutExpired:
        raise TtsError(f"converting {src} timed out after {timeout_s:.0f} s") from None
    finally:
        tmp.unlink(missing_ok=True)
    logger.debug("converted %s -> %s", src, dst)


def atomic_write_bytes(dst: Path, data: bytes) -> None:
    """Write ``data`` to ``dst`` through a temporary file and a rename."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=dst.suffix, dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp_name, 0o644)
        Path(tmp_name).replace(dst)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
