"""Text that may be stored and served again: no control characters, no broken Unicode.

A string carrying a C0 control character (other than tab, CR and LF), DEL's neighbours
U+FFFE/U+FFFF or an unpaired UTF-16 surrogate cannot be written into XML 1.0 (the public
Open311 ``requests.xml``), is refused by PostgreSQL (NUL) or cannot be encoded as UTF-8 when
read back (a lone surrogate). Such input is refused where it enters, naming where it was and
never echoing it. Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "MAX_JSON_DEPTH",
    "UnsafeText",
    "check_text",
    "find_unsafe",
    "is_safe_text",
    "storable_text",
]

MAX_JSON_DEPTH: Final = 16
"""Deepest nesting accepted in free-form JSON (an IVR path)."""

_UNSAFE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class UnsafeText(ValueError):
    """A string (or a key) in the input holds a forbidden character; ``where`` says which."""

    def __init__(self, where: str, why: str = "") -> None:
        self.where = where or "the input"
        super().__init__(
            why or f"{self.where} holds a control character or broken Unicode (refused)"
        )


def is_safe_text(value: str) -> bool:
    """Whether ``value`` holds no control character (but tab, CR, LF) and no lone surrogate."""
    return _UNSAFE.search(value) is None


def storable_text(value: str, limit: int) -> str:
    """``value`` made safe to store in a column of ``limit`` characters: each unsafe
    character replaced by U+FFFD, and cut to ``limit`` characters ending in "…" when longer.
    For what is kept as a record of input already refused or checked (an audit target)."""
    text = _UNSAFE.sub("\ufffd", value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def check_text(where: str, value: str) -> str:
    """``value`` if it is safe text; `UnsafeText` naming ``where`` otherwise."""
    if not is_safe_text(value):
        raise UnsafeText(where)
    return value


def find_unsafe(
    data: object,
    where: str = "",
    *,
    bad_key: Callable[[str], bool] | None = None,
    max_depth: int = MAX_JSON_DEPTH,
) -> None:
    """Walk JSON-like ``data`` (dicts, lists, strings, numbers); raise `UnsafeText` at the
    first unsafe string or key, at a key ``bad_key`` refuses, or past ``max_depth``."""
    stack: list[tuple[object, str, int]] = [(data, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeText(at, f"{at or 'the input'} is nested deeper than {max_depth} levels")
        if isinstance(item, str):
            check_text(at, item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UnsafeText(at, f"{at or 'the input'} is not a finite number")
        elif isinstance(item, dict):
            for key, value in item.items():
                name = str(key)
                inner = f"{at}.{name}" if at and is_safe_text(name) else (name or at)
                if not is_safe_text(name):
                    raise UnsafeText(
                        at or "a key",
                        f"a key in {at or 'the input'} holds a "
                        "control character or broken Unicode (refused)",
                    )
                if bad_key is not None and bad_key(name):
                    raise UnsafeText(
                        inner,
                        f"{inner} looks like a raw caller number; line311 "
                        "never stores one (send caller_hash instead)",
                    )
                stack.append((value, inner, depth + 1))
        elif isinstance(item, list | tuple):
            for index, value in enumerate(item):
                stack.append((value, f"{at}[{index}]", depth + 1))
