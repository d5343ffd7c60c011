"""Making SR status fit to be spoken by the IVR (pure).

Status notes are free text written by agencies. Before the IVR reads them to whoever keyed
an SR number, they are cleaned: e-mail addresses, URLs and anything that looks like a phone
number or a long digit string are removed (a caller proves only that they know the SR
number, so no personal data may be read out), whitespace is collapsed, and the text is cut
at a sentence boundary to at most `MAX_SPOKEN` characters.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SPOKEN", "speakable", "spoken_digits"]

MAX_SPOKEN = 300

_EMAIL = re.compile(r"\S+@\S+")
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"(?:\+?\d[\s().-]*){7,}")
_SPACES = re.compile(r"\s+")
_UNSPEAKABLE = re.compile(r"[<>{}\[\]|\\^~`*_#@]")


def speakable(text: str | None, limit: int = MAX_SPOKEN) -> str:
    """``text`` cleaned for text-to-speech, without personal data; "" for none."""
    if not text:
        return ""
    out = _EMAIL.sub(" ", text)
    out = _URL.sub(" ", out)
    out = _LONG_NUMBER.sub(" ", out)
    out = _UNSPEAKABLE.sub(" ", out)
    out = _SPACES.sub(" ", out).strip()
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
