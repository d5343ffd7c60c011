"""Service request (SR) numbers: made by the CRM bridge, keyed by callers on a phone keypad.

Format
------
An SR number is **12 digits**, all keyable on a phone::

    311 NNNNNNNN C
    ^^^ ^^^^^^^^ ^
    |   |        check digit, Damm algorithm over the 11 digits before it
    |   sequence number, zero-padded to 8 digits (0 .. 99,999,999)
    fixed prefix "311": recognisable when read back, and rejects most stray input

Example: ``make_sr_number(427) == "311000004273"``; printed for people as
``311-00000427-3`` (`format_sr_number`). The canonical form — the one stored, sent over the
API and accepted by `validate_sr_number` — is the bare 12 digits; `normalize_sr_number`
strips the spaces and dashes people type.

Why Damm (H. M. Damm, 2004): the check digit is always a decimal digit (unlike ISO 7064
MOD 11,2), and it detects *every* single-digit error and *every* transposition of adjacent
digits, the check digit included; Luhn misses ``09`` <-> ``90`` and ISO 7064 MOD 11,10 misses
some transpositions too. With the prefix, a random 12-digit string passes with probability
1/10,000.
"""

from __future__ import annotations

__all__ = [
    "SR_NUMBER_LENGTH",
    "SR_PREFIX",
    "SR_SEQUENCE_MAX",
    "check_digit",
    "format_sr_number",
    "make_sr_number",
    "normalize_sr_number",
    "sequence_of",
    "validate_sr_number",
]

SR_PREFIX = "311"
_SEQ_DIGITS = 8
SR_NUMBER_LENGTH = len(SR_PREFIX) + _SEQ_DIGITS + 1
"""Length of a canonical SR number (12)."""
SR_SEQUENCE_MAX = 10**_SEQ_DIGITS - 1
"""Largest sequence number `make_sr_number` accepts."""

_DIGITS = frozenset("0123456789")


_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
"""Damm's weakly totally anti-symmetric quasigroup of order 10 (zero diagonal)."""


def check_digit(digits: str) -> str:
    """Damm check digit of a non-empty string of decimal digits."""
    if not digits or not set(digits) <= _DIGITS:
        raise ValueError(f"check_digit needs decimal digits, got {digits!r}")
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return str(interim)


def make_sr_number(seq: int) -> str:
    """The canonical SR number for sequence number ``seq`` (0 .. `SR_SEQUENCE_MAX`)."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= SR_SEQUENCE_MAX:
        raise ValueError(f"SR sequence must be an int in 0..{SR_SEQUENCE_MAX}, got {seq!r}")
    body = f"{SR_PREFIX}{seq:0{_SEQ_DIGITS}d}"
    return body + check_digit(body)


def validate_sr_number(s: str) -> bool:
    """True when ``s`` is a canonical SR number: 12 digits, prefix 311, right check digit."""
    if (
        not isinstance(s, str)
        or len(s) != SR_NUMBER_LENGTH
        or not set(s) <= _DIGITS
        or not s.startswith(SR_PREFIX)
    ):
        return False
    return check_digit(s[:-1]) == s[-1]


def normalize_sr_number(s: str) -> str:
    """``s`` without spaces and dashes (``"311-00000427-3"`` -> ``"311000004273"``).

    The result is not validated: pass it to `validate_sr_number`.
    """
    return "".join(ch for ch in s if ch not in " -\t")


def format_sr_number(s: str) -> str:
    """A canonical SR number as printed for people: ``311-00000427-3``."""
    if not validate_sr_number(s):
        raise ValueError(f"not a valid SR number: {s!r}")
    return f"{s[:3]}-{s[3:-1]}-{s[-1]}"


def sequence_of(s: str) -> int:
    """The sequence number inside a valid SR number."""
    if not validate_sr_number(s):
        raise ValueError(f"not a valid SR number: {s!r}")
    return int(s[len(SR_PREFIX) : -1])
