"""Making SR status fit to be spoken by the IVR (pure).

Status notes are free text written by agencies. Before the IVR reads them to whoever keyed
an SR number, they are cleaned: phone numbers and e-mail addresses are removed
(`line311.privacy.redact_contacts`, the filter the public Open311 API uses too), and so are
URLs and any other long digit string (a caller proves only that they know the SR number, so
no personal data may be read out); what the removals leave (empty brackets, a comma before a
comma) is tidied, whitespace is collapsed, and the text is cut at a sentence boundary to at
most `MAX_SPOKEN` characters.
"""

from __future__ import annotations

import re

from line311.privacy import redact_contacts

__all__ = ["MAX_SPOKEN", "speakable", "spoken_digits"]

MAX_SPOKEN = 300

_URL = re.compile(r"(?:https?://|www\.)\S*[^\s.,;:!?)]", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"(?:\+?\d[\s().-]*){7,}")
_UNSPEAKABLE = re.compile(r"[<>{}\[\]|\\^~`*_#@]")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:!?])")
_REPEATED_PAUSES = re.compile(r"[,;:](?: ?[,;:])+")
_PAUSE_BEFORE_STOP = re.compile(r"[,;:] ?([.!?])")


def _tidy(text: str) -> str:
    out = _EMPTY_BRACKETS.sub(" ", text)
    out = _SPACES.sub(" ", out).strip()
    out = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", out)
    out = _REPEATED_PAUSES.sub(lambda m: m.group()[0], out)
    out = _PAUSE_BEFORE_STOP.sub(r"\1", out)
    return out.strip(",;: ")


def speakable(text: str | None, limit: int = MAX_SPOKEN) -> str:
    """``text`` cleaned for text-to-speech, without personal data; "" for none."""
    if not text:
        return ""
    out = _URL.sub(" ", text)
    out = redact_contacts(out, marker=" ")
    out = _LONG_NUMBER.sub(" ", out)
    out = _UNSPEAKABLE.sub(" ", out)
    out = _tidy(out)
    if len(out) <= limit:
        return out
    cut = out[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end >= limit // 3:
        return cut[: end + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip(",;: ") + "."


def spoken_digits(sr_number: str) -> str:
    """``311000004273`` → ``3 1 1, 0 0 0 0 0 4 2 7, 3`` (groups as printed)."""
    groups = (sr_number[:3], sr_number[3:-1], sr_number[-1:])
    return ", ".join(" ".join(g) for g in groups if g)
