"""Reading and validating the self-service content file (pure but for reading the file).

`parse_content` refuses anything it does not understand, naming the section and entry, so a
reload with a typo keeps the content in use (`line311.ari.ivr_edge.Reloadable`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import yaml

from line311.ivr.content import (
    CONTENT_SECTIONS,
    Content,
    ContentError,
    DatedEntry,
    Holiday,
    Section,
)
from line311.ivr.flow import PromptSource
from line311.yaml_doc import safe_load

__all__ = ["load_content_file", "parse_content"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_content(text: str, *, catalogue: PromptSource | None = None) -> Content:
    """Parse and validate a content file. Raises `ContentError` naming the problem.

    With ``catalogue``, every extra prompt id an entry says must exist in the catalogue.
    """
    try:
        doc = safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. a date 2026-13-01
        raise ContentError(f"not valid YAML (dates are YYYY-MM-DD): {exc}") from None
    if not isinstance(doc, dict):
        raise ContentError("the content file is a mapping with version, holidays and sections")
    allowed = {"version", "holidays", *CONTENT_SECTIONS}
    extra = sorted(set(map(str, doc)) - allowed)
    if extra:
        raise ContentError(f"unknown key(s): {', '.join(extra)}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ContentError("'version' must be an integer")
    holidays: list[Holiday] = []
    for n, raw in enumerate(_list(doc.get("holidays"), "holidays")):
        where = f"holidays[{n}]"
        _keys(raw, {"date", "name"}, {"date", "name"}, where)
        holidays.append(Holiday(_date(raw["date"], where), _slug(raw["name"], where)))
    sections = {
        name: _section(doc.get(name) or {}, name, catalogue)
        for name in CONTENT_SECTIONS
        if name in doc
    }
    return Content(
        version=version,
        holidays=tuple(sorted(holidays, key=lambda h: h.date)),
        sections=sections,
        fingerprint=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_content_file(path: Path, *, catalogue: PromptSource | None = None) -> Content:
    """Read and validate a content file (start-up and reloads only: file I/O)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContentError(f"cannot read content file {path}: {exc.strerror}") from None
    try:
        return parse_content(text, catalogue=catalogue)
    except ContentError as exc:
        raise ContentError(f"{path.name}: {exc}") from None


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ContentError(f"{where} must be a list")
    return raw


def _keys(raw: Any, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(raw, dict):
        raise ContentError(f"{where} must be a mapping")
    extra = sorted(set(map(str, raw)) - allowed)
    if extra:
        raise ContentError(f"{where}: unknown key(s) {', '.join(extra)}")
    missing = sorted(required - set(raw))
    if missing:
        raise ContentError(f"{where}: missing {', '.join(missing)}")


def _date(raw: Any, where: str) -> dt.date:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise ContentError(f"{where}: dates are YYYY-MM-DD, got {raw!r}")


def _slug(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw or not raw.replace("_", "").isalnum():
        raise ContentError(f"{where}: names and reasons are lower_snake_case keys, got {raw!r}")
    return raw


def _section(raw: Any, name: str, catalogue: PromptSource | None) -> Section:
    _keys(raw, {"weekdays", "holidays", "dates"}, set(), name)
    weekdays: set[int] = set()
    for day in _list(raw.get("weekdays"), f"{name}.weekdays"):
        if day not in _WEEKDAYS:
            raise ContentError(f"{name}.weekdays: {day!r} is not a day name ({_WEEKDAYS[0]} ...)")
        weekdays.add(_WEEKDAYS.index(day))
    on_holidays = raw.get("holidays", False)
    if not isinstance(on_holidays, bool):
        raise ContentError(f"{name}.holidays must be true or false")
    entries: list[DatedEntry] = []
    for n, entry in enumerate(_list(raw.get("dates"), f"{name}.dates")):
        where = f"{name}.dates[{n}]"
        _keys(entry, {"date", "until", "reason", "say"}, {"date", "reason"}, where)
        start = _date(entry["date"], where)
        end = _date(entry["until"], where) if entry.get("until") is not None else start
        if end < start:
            raise ContentError(f"{where}: 'until' is before 'date'")
        say = tuple(_list(entry.get("say"), f"{where}.say"))
        for token in say:
            if not isinstance(token, str) or not token:
                raise ContentError(f"{where}.say: prompt ids are strings")
            if catalogue is not None and not token.startswith("say:") and token not in catalogue:
                raise ContentError(f"{where}.say: unknown prompt id {token!r}")
        entries.append(DatedEntry(start, end, _slug(entry["reason"], where), say))
    return Section(frozenset(weekdays), on_holidays, tuple(entries))
