"""The sound library: one 8 kHz WAV per prompt and language, ready for Asterisk.

Theory of operation
-------------------
`build_library` assembles ``<out_dir>/<lang>/<prompt_id>.wav`` for every prompt of the
catalogue in every language (Asterisk plays it as ``sound:<lang>/<prompt_id>``). The source
of each file, in order of preference:

1. a human recording ``<human_dir>/<lang>/<prompt_id>.<wav|flac|ogg|mp3>`` (any rate or
   format; converted). Human recordings are only ever read, never written;
2. the TTS rendering of the prompt's text, from the `TtsCache` (rendered on a miss).

A manifest (``<out_dir>/.line311-manifest.json``) remembers for each output the fingerprint
of its source (TTS cache key, or the recording's content hash) and the output's size and
mtime. When both still match, the file is reused without any work, so a rebuild with nothing
changed takes a fraction of a second. When the source changed, the new audio is compared to
the old file byte for byte and only written if different: an unchanged file keeps its mtime,
so copying the library by mtime (into Asterisk's sounds directory) copies only real changes.
Outputs the library made for prompts no longer in the catalogue are removed.

Work on individual files runs in a small thread pool: the work is in subprocesses
(espeak-ng, sox), so threads are enough to use both cores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from line311.ivr.catalogue import LANGUAGES, Catalogue
from line311.messaging.audio import atomic_write_bytes, convert_to_telephony, telephony_problem
from line311.messaging.errors import SoundLibraryError, TtsError
from line311.messaging.tts import TtsCache, TtsEngine

__all__ = [
    "HUMAN_EXTENSIONS",
    "MANIFEST_NAME",
    "BuildReport",
    "Outcome",
    "build_library",
    "check_library",
    "human_recording",
    "library_path",
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = ".line311-manifest.json"
HUMAN_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
_MANIFEST_VERSION = 1
_MAX_REPORTED_FAILURES = 20


class Outcome(Enum):
    """What happened to one output file."""

    UNCHANGED = "unchanged"  # up to date, nothing done
    RENDERED = "rendered"  # the TTS engine ran, file written
    FROM_CACHE = "from_cache"  # TTS rendering taken from the cache, file written
    HUMAN = "human"  # a human recording converted, file written
    SAME_CONTENT = "same_content"  # source changed but the audio is identical: not rewritten


@dataclass(slots=True)
class BuildReport:
    """What `build_library` did, per outcome: lists of ``<lang>/<prompt_id>``."""

    out_dir: Path
    by_outcome: dict[Outcome, list[str]] = field(
        default_factory=lambda: {outcome: [] for outcome in Outcome}
    )
    removed: list[str] = field(default_factory=list)
    human: list[str] = field(default_factory=list)

    @property
    def written(self) -> list[str]:
        """Outputs whose file was (re)written by this build."""
        keep = (Outcome.RENDERED, Outcome.FROM_CACHE, Outcome.HUMAN)
        return sorted(p for o in keep for p in self.by_outcome[o])

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_outcome.values())

    def summary(self) -> str:
        counts = ", ".join(f"{len(v)} {o.value}" for o, v in self.by_outcome.items() if v)
        extra = f", {len(self.removed)} removed" if self.removed else ""
        return (
            f"{self.total} prompt files in {self.out_dir} ({counts or 'none'}{extra}); "
            f"{len(self.human)} from human recordings"
        )


def library_path(out_dir: Path, language: str, prompt_id: str) -> Path:
    """Where the library keeps ``prompt_id`` in ``language``."""
    return out_dir / language / f"{prompt_id}.wav"


def human_recording(human_dir: Path, language: str, prompt_id: str) -> Path | None:
    """The human recording of ``prompt_id`` in ``language``, if there is one."""
    base = human_dir / language / prompt_id
    for ext in HUMAN_EXTENSIONS:
        candidate = base.with_name(base.name + ext)
        if candidate.is_file():
            return candidate
    return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stat_sig(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _load_manifest(out_dir: Path) -> dict[str, dict[str, Any]]:
    path = out_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable library manifest %s: %s", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("version") != _MANIFEST_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _save_manifest(out_dir: Path, files: dict[str, dict[str, Any]]) -> None:
    body = json.dumps({"version": _MANIFEST_VERSION, "files": files}, indent=1, sort_keys=True)
    atomic_write_bytes(out_dir / MANIFEST_NAME, body.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class _Job:
    key: str  # "<lang>/<prompt_id>"
    language: str
    prompt_id: str
    text: str
    human: Path | None


def _place(new_audio: Path, dest: Path) -> bool:
    """Copy ``new_audio`` to ``dest`` unless ``dest`` already has the same bytes."""
    data = new_audio.read_bytes()
    try:
        if dest.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write_bytes(dest, data)
    return True


def _run_job(
    job: _Job,
    out_dir: Path,
    engine: TtsEngine,
    cache: TtsCache,
    previous: dict[str, Any] | None,
) -> tuple[_Job, Outcome | Exception, dict[str, Any]]:
    dest = library_path(out_dir, job.language, job.prompt_id)
    if job.human is not None:
        fingerprint = "human:" + _sha256_file(job.human)
    else:
        fingerprint = "tts:" + cache.key(engine, job.language, job.text)
    if (
        previous is not None
        and previous.get("source") == fingerprint
        and previous.get("stat") == _stat_sig(dest)
    ):
        return job, Outcome.UNCHANGED, previous

    if job.human is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".human.", suffix=".wav", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            convert_to_telephony(job.human, tmp)
            written = _place(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        outcome = Outcome.HUMAN if written else Outcome.SAME_CONTENT
    else:
        rendered, fresh = cache.render(engine, job.language, job.text)
        written = _place(rendered, dest)
        if not written:
            outcome = Outcome.SAME_CONTENT
        else:
            outcome = Outcome.RENDERED if fresh else Outcome.FROM_CACHE
    return job, outcome, {"source": fingerprint, "stat": _stat_sig(dest)}


def _remove_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty (or gone): stop
            return
        directory = directory.parent


def build_library(
    catalogue: Catalogue,
    *,
    human_dir: Path,
    out_dir: Path,
    engine: TtsEngine,
    cache_dir: Path,
    languages: Iterable[str] = LANGUAGES,
    workers: int = 2,
    progress: Callable[[str, Outcome], None] | None = None,
) -> BuildReport:
    """Build (or bring up to date) the library in ``out_dir``; see the module docstring.

    ``cache_dir`` is the TTS cache root (``<settings.cache_dir>/tts``). ``human_dir`` is only
    read. Raises `SoundLibraryError` naming every prompt that failed.
    """
    langs = list(languages)
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise SoundLibraryError(f"unknown language(s): {', '.join(unknown)}")
    if out_dir.resolve() == human_dir.resolve():
        raise SoundLibraryError("the output directory must not be the human recordings directory")
    cache = TtsCache(cache_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(out_dir)
    report = BuildReport(out_dir=out_dir)

    jobs: list[_Job] = []
    for prompt_id, prompt in catalogue.items():
        for lang in langs:
            text = prompt.tts(lang) if engine.reads_tts_text(lang) else prompt.text(lang)
            human = human_recording(human_dir, lang, prompt_id)
            jobs.append(_Job(f"{lang}/{prompt_id}", lang, prompt_id, text, human))

    new_manifest: dict[str, dict[str, Any]] = {}
    failures: list[str] = []

    def run(job: _Job) -> tuple[_Job, Outcome | Exception, dict[str, Any]]:
        try:
            return _run_job(job, out_dir, engine, cache, manifest.get(job.key))
        except (TtsError, OSError) as exc:
            return job, exc, {}

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for job, outcome, entry in pool.map(run, jobs):
            if isinstance(outcome, Exception):
                failures.append(f"{job.key}: {outcome}")
                if job.key in manifest:
                    new_manifest[job.key] = manifest[job.key]
                continue
            new_manifest[job.key] = entry
            report.by_outcome[outcome].append(job.key)
            if job.human is not None:
                report.human.append(job.key)
            if progress is not None:
                progress(job.key, outcome)

    # Remove what we built earlier for prompts (or languages) that are gone.
    built_now = {job.key for job in jobs}
    for key in sorted(set(manifest) - built_now):
        lang, _, prompt_id = key.partition("/")
        if lang in langs:
            stale = library_path(out_dir, lang, prompt_id)
            stale.unlink(missing_ok=True)
            _remove_empty_parents(stale.parent, out_dir)
            report.removed.append(key)
        else:
            new_manifest[key] = manifest[key]  # a language not built this time: keep

    _save_manifest(out_dir, new_manifest)
    for values in report.by_outcome.values():
        values.sort()
    logger.info("sound library: %s", report.summary())
    if failures:
        shown = failures[:_MAX_REPORTED_FAILURES]
        more = len(failures) - len(shown)
        raise SoundLibraryError(
            f"{len(failures)} prompt file(s) could not be built:\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more else "")
        )
    return report


def check_library(
    catalogue: Catalogue, out_dir: Path, *, languages: Iterable[str] = LANGUAGES
) -> list[str]:
    """Every problem of the library in ``out_dir``: a prompt missing, or a file not in
    8 kHz mono 16-bit WAV. Empty when the library is complete and playable."""
    problems = []
    for prompt_id in catalogue:
        for lang in languages:
            problem = telephony_problem(library_path(out_dir, lang, prompt_id))
            if problem is not None:
                problems.append(f"{lang}/{prompt_id}: {problem}")
    return problems
