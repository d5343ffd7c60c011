"""The caller's number never leaves the edge: only a keyed hash of it does.

The hash is an HMAC-SHA256 under ``caller_hash_key``, truncated to 32 hex digits: stable for
one deployment (so a CCR can see a caller's earlier SRs), useless to anyone without the key
(a plain hash of a 10-digit number is reversed by brute force in seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["caller_hash", "normalise_number"]

_DIGITS = re.compile(r"\D+")


def normalise_number(raw: str | None) -> str:
    """Digits only, a leading US country code dropped: '+1 (212) 639-9675' -> '2126399675'."""
    digits = _DIGITS.sub("", raw or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def caller_hash(raw_number: str | None, key: str) -> str | None:
    """Keyed hash of a caller's number, or None for an anonymous / withheld caller."""
    digits = normalise_number(raw_number)
    if not digits:
        return None
    mac = hmac.new(key.encode(), digits.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]
