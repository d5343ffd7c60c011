"""The prompt catalogue: every prompt id and its text in each of the seven languages.

Theory of operation
-------------------
Flows, the say-functions and the sound library refer to prompts by *id* (``greeting``,
``digits/7``, ``months/march``). The catalogue maps each id to its text in every one of the
:data:`LANGUAGES`; the library builder renders that text to audio (unless a human recording
exists) and the ARI edge plays ``sound:<lang>/<prompt_id>``.

The catalogue lives in YAML files under ``content/catalogue/`` (setting ``catalogue_dir``),
one per area (``core.yaml``, ``ivr.yaml`` ...)::

    prompts:
      greeting:
        en: "Welcome to 311 ..."
        cmn: {text: "欢迎致电311 ...", tts: "huan1 ying2 ..."}

A language value is either the text itself, or a mapping with ``text`` (what the caller
hears, used for transcripts and human recordings) and ``tts`` (what the speech engine should
read when it differs, e.g. pinyin for espeak-ng's Mandarin voice).

Everything here is pure except :func:`load_catalogue`, which only reads the files and hands
their parsed content to :func:`build_catalogue`. Validation is strict and names the prompt
and file: every prompt exists in all seven languages, ids match ``[a-z0-9_/-]+`` (no empty
segment, no ``..``), and an id is defined in one file only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from line311.ivr.errors import IvrError

__all__ = [
    "ESPEAK_VOICES",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "Catalogue",
    "CatalogueError",
    "Prompt",
    "PromptText",
    "build_catalogue",
    "language_for_digit",
    "load_catalogue",
    "parse_prompts",
    "spoken_language",
]

#: The seven languages, in the order of the language menu (digit 1 is English ... 7 Haitian).
LANGUAGES: tuple[str, ...] = ("en", "es", "cmn", "yue", "ru", "ko", "ht")

#: English names of the languages (for logs, reports and the dashboard).
LANGUAGE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "en": "English",
        "es": "Spanish",
        "cmn": "Mandarin",
        "yue": "Cantonese",
        "ru": "Russian",
        "ko": "Korean",
        "ht": "Haitian Creole",
    }
)

#: espeak-ng voice of each language. Mandarin must be read from pinyin (``cmn-latn-pinyin``):
#: the plain ``cmn`` voice reads Latin letters and digits in English.
ESPEAK_VOICES: Mapping[str, str] = MappingProxyType(
    {
        "en": "en-us",
        "es": "es-419",
        "cmn": "cmn-latn-pinyin",
        "yue": "yue",
        "ru": "ru",
        "ko": "ko",
        "ht": "ht",
    }
)

_ID_RE = re.compile(r"[a-z0-9_-]+(/[a-z0-9_-]+)*")


class CatalogueError(IvrError):
    """A catalogue file is malformed or inconsistent; the message names the prompt and file."""


def language_for_digit(digit: str) -> str | None:
    """The language chosen by a digit of the language menu (``"1"`` → ``"en"``), or None."""
    if len(digit) == 1 and digit.isdigit() and 1 <= int(digit) <= len(LANGUAGES):
        return LANGUAGES[int(digit) - 1]
    return None


def spoken_language(language: str) -> str:
    """The language prompts are played in to a caller of ``language``: itself when it is one of
    the seven, else English (a caller of `line311.call.values.OTHER_LANGUAGE`, waiting for a
    CCR and the interpreter line, hears the queue's prompts in English)."""
    return language if language in LANGUAGES else LANGUAGES[0]


@dataclass(frozen=True, slots=True)
class PromptText:
    """The text of one prompt in one language.

    ``text`` is what the caller hears; ``tts`` is what a speech engine should read (equal to
    ``text`` unless the catalogue gives an override).
    """

    text: str
    tts: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt: its id, its text in every language, and the file that defined it."""

    id: str
    texts: Mapping[str, PromptText]
    source: str

    def text(self, language: str) -> str:
        return self.texts[language].text

    def tts(self, language: str) -> str:
        return self.texts[language].tts


class Catalogue(Mapping[str, Prompt]):
    """An immutable, validated set of prompts, indexed by id (iterates ids in sorted order)."""

    __slots__ = ("_prompts",)

    def __init__(self, prompts: Mapping[str, Prompt]) -> None:
        self._prompts: Mapping[str, Prompt] = MappingProxyType(
            {pid: prompts[pid] for pid in sorted(prompts)}
        )

    def __getitem__(self, prompt_id: str) -> Prompt:
        try:
            return self._prompts[prompt_id]
        except KeyError:
            raise KeyError(f"unknown prompt id {prompt_id!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._prompts)

    def __len__(self) -> int:
        return len(self._prompts)

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} prompts)"

    def text(self, prompt_id: str, language: str) -> str:
        """What the caller hears for ``prompt_id`` in ``language``."""
        return self[prompt_id].text(language)

    def tts(self, prompt_id: str, language: str) -> str:
        """What the speech engine reads for ``prompt_id`` in ``language``."""
        return self[prompt_id].tts(language)

    def missing(self, prompt_ids: Iterable[str]) -> list[str]:
        """The ids among ``prompt_ids`` that this catalogue does not define (sorted, unique)."""
        return sorted({pid for pid in prompt_ids if pid not in self._prompts})


# ---------------------------------------------------------------------------- parsing


def _parse_text(value: Any, prompt_id: str, language: str, source: str) -> PromptText:
    where = f"prompt {prompt_id!r} language {language!r} in {source}"
    if isinstance(value, str):
        text, tts = value, value
    elif isinstance(value, Mapping):
        unknown = set(value) - {"text", "tts"}
        if unknown:
            raise CatalogueError(f"{where}: unknown keys {sorted(map(str, unknown))}")
        raw_text = value.get("text")
        raw_tts = value.get("tts", raw_text)
        if not isinstance(raw_text, str) or not isinstance(raw_tts, str):
            raise CatalogueError(f"{where}: 'text' (and 'tts' if given) must be strings")
        text, tts = raw_text, raw_tts
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = tts = str(value)
    else:
        raise CatalogueError(f"{where}: expected a string or {{text, tts}}, got {value!r}")
    text, tts = text.strip(), tts.strip()
    if not text or not tts:
        raise CatalogueError(f"{where}: empty text")
    return PromptText(text=text, tts=tts)


def parse_prompts(data: Any, source: str) -> dict[str, Prompt]:
    """Parse one catalogue document (already loaded from YAML) into prompts, validating it.

    ``source`` names the file in error messages.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CatalogueError(f"{source}: expected a mapping with a 'prompts' key")
    unknown = set(data) - {"prompts"}
    if unknown:
        raise CatalogueError(f"{source}: unknown top-level keys {sorted(map(str, unknown))}")
    prompts_data = data.get("prompts") or {}
    if not isinstance(prompts_data, Mapping):
        raise CatalogueError(f"{source}: 'prompts' must be a mapping of prompt id to texts")
    prompts: dict[str, Prompt] = {}
    for raw_id, texts in prompts_data.items():
        prompt_id = str(raw_id)
        if not _ID_RE.fullmatch(prompt_id):
            raise CatalogueError(
                f"prompt {prompt_id!r} in {source}: id must match [a-z0-9_-]+ segments "
                "separated by '/'"
            )
        if not isinstance(texts, Mapping):
            raise CatalogueError(
                f"prompt {prompt_id!r} in {source}: expected a mapping of language to text"
            )
        languages = {str(k) for k in texts}
        missing = [lang for lang in LANGUAGES if lang not in languages]
        if missing:
            raise CatalogueError(
                f"prompt {prompt_id!r} in {source}: missing language(s) {', '.join(missing)}"
            )
        extra = sorted(languages - set(LANGUAGES))
        if extra:
            raise CatalogueError(
                f"prompt {prompt_id!r} in {source}: unknown language(s) {', '.join(extra)} "
                f"(expected {', '.join(LANGUAGES)})"
            )
        parsed = {lang: _parse_text(texts[lang], prompt_id, lang, source) for lang in LANGUAGES}
        prompts[prompt_id] = Prompt(id=prompt_id, texts=MappingProxyType(parsed), source=source)
    return prompts


def build_catalogue(documents: Iterable[tuple[str, Any]]) -> Catalogue:
    """Merge parsed documents ``(source, data)`` into one catalogue; an id defined in two
    files is refused, naming both."""
    merged: dict[str, Prompt] = {}
    for source, data in documents:
        for prompt_id, prompt in parse_prompts(data, source).items():
            if prompt_id in merged:
                raise CatalogueError(
                    f"prompt {prompt_id!r} is defined twice: in {merged[prompt_id].source} "
                    f"and in {source}"
                )
            merged[prompt_id] = prompt
    return Catalogue(merged)


def load_catalogue(directory: Path) -> Catalogue:
    """Read every ``*.yaml`` file in ``directory`` (sorted by name) into one catalogue."""
    import yaml

    from line311.yaml_doc import safe_load

    if not directory.is_dir():
        raise CatalogueError(f"catalogue directory {directory} does not exist")
    documents: list[tuple[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            with path.open(encoding="utf-8") as fh:
                documents.append((path.name, safe_load(fh)))
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{path.name}: invalid YAML: {exc}") from None
        except OSError as exc:
            raise CatalogueError(f"cannot read {path}: {exc}") from None
    if not documents:
        raise CatalogueError(f"no *.yaml catalogue files in {directory}")
    return build_catalogue(documents)
