"""Moved to `line311.call.srnumber` (SR numbers are shared by the IVR, the CRM and the database).

Kept only so ``ivr/session.py`` keeps importing while it is rewritten on another #11 branch;
the merger drops this module once that import reads ``line311.call.srnumber``.
"""

from __future__ import annotations

from line311.call.srnumber import (
    SR_NUMBER_LENGTH,
    SR_PREFIX,
    SR_SEQUENCE_MAX,
    check_digit,
    format_sr_number,
    make_sr_number,
    normalize_sr_number,
    sequence_of,
    validate_sr_number,
)

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
