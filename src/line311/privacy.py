"""Personal data stays private: a caller's number as a keyed hash, free text without contacts.

The hash is an HMAC-SHA256 under ``caller_hash_key``, truncated to 32 hex digits: stable for
one deployment (so a CCR can see a caller's earlier SRs), useless to anyone without the key
(a plain hash of a 10-digit number is reversed by brute force in seconds).

`redact_contacts` takes phone numbers and e-mail addresses out of free text (SR descriptions,
status notes) before anyone who is not staff sees or hears it: the public Open311 API and
the IVR (`line311.crm_bridge.speech`) both use it. It replaces each with a neutral marker and
leaves the rest as written, SR numbers (12 digits from 311), dates, times and house numbers
included.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["MIN_CALLER_DIGITS", "REMOVED", "caller_hash", "normalise_number", "redact_contacts"]

REMOVED = "[removed]"
"""What `redact_contacts` puts where a phone number or an e-mail address was."""

MIN_CALLER_DIGITS = 7
"""The shortest number that `caller_hash` takes for one caller's (a local number)."""

_DIGITS = re.compile(r"\D+")

# the local part starts only where a run of its characters starts: tried at every character
# of a long run without an "@" (a digit string, say), it would rescan the rest of the run each
# time, quadratic in the run's length, on text anyone may file and anyone may read back
_EMAIL = re.compile(r"(?<![\w.+%'-])[\w.+%'-]+@[\w-]+(?:\.[\w-]+)*")
# a number after an exit prefix has its digits matched one per repetition, 8 to 15 of them
# (E.164): a failed try gives back at most 15, so a long digit run stays linear here too.
# Fewer than 8 is no such number: a ZIP+4 starting 00 (00901-1234) and an SR number's
# zero-padded sequence (311-00123456-7: 7 after the 00) stay. Right after a digit and a dot
# or a dash a prefix may continue the digits before it ("1,000.00 2024 0501"), so there it
# counts only when nothing could be such a continuation: "00" written onto its country code
# or "011" ("12.00-0044 20 7946 0958"); never after "311" and a separator, where an SR
# number's sequence starts ("311-00123456-7 2024 05 01", "311 00123456 7 1200")
_PHONE = re.compile(
    r"""
    (?<![\d+])                          # not inside a longer number
    (?:
        \+\d+(?:[ .\-]?\(?\d+\)?)+         # international: a + and digit groups
      | (?<!311[ .\-])                    # international after an exit prefix: not an
        (?:(?<!\d[.\-])(?:00|011)[ .\-]?  #   SR's sequence; 00 or 011 not continuing
          | 00(?=[1-9]) | 011[ .\-]?)      #   digits, or unmistakable after them;
        [1-9](?:[ .\-]?\(?\d\)?){7,14}     #   country code, 8 to 15 digits in all
      | (?:(?:1[ .\-]?)?                  # North American: country code (only
           (?:\(\d{3}\)[ ]?|\d{3}[ .\-]?))?  # with an area code), area code,
        \d{3}[ .\-]?\d{4}                 # number
    )
    (?!\d)
    """,
    re.VERBOSE | re.ASCII,
)
_MIN_PHONE_DIGITS = 7


def redact_contacts(text: str, marker: str = REMOVED) -> str:
    """``text`` with every phone number and e-mail address replaced by ``marker``.

    Phone numbers are North American ones (``(212) 555-0147``, ``212.555.0147``,
    ``1-212-555-0147``, ``2125550147``, ``555 0147``) and any number written with a leading
    ``+`` or an international exit prefix (``0044 20 7946 0958``, ``011 44 20 7946 0958``,
    ``00 33 1 42 68 53 00``), also right after other digits (``12.00-0044 20 7946 0958``).
    Other digit runs stay: SR numbers, prices, dates, times, house numbers and ZIP codes.
    """

    def replace(match: re.Match[str]) -> str:
        digits = sum(c.isdigit() for c in match.group())
        return marker if digits >= _MIN_PHONE_DIGITS else match.group()

    return _PHONE.sub(replace, _EMAIL.sub(marker, text))


def normalise_number(raw: str | None) -> str:
    """Digits only, a leading US country code dropped: '+1 (212) 639-9675' -> '2126399675'."""
    digits = _DIGITS.sub("", raw or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def caller_hash(raw_number: str | None, key: str) -> str | None:
    """Keyed hash of a caller's number, or None for an anonymous / withheld caller.

    A number shorter than `MIN_CALLER_DIGITS` or made of one repeated digit is no caller's
    own ("0", "0000000000" from carriers for withheld numbers, an extension): it gets no hash,
    so calls from different people are never linked by it (a CCR would see one resident's
    earlier SRs when serving another).
    """
    digits = normalise_number(raw_number)
    if len(digits) < MIN_CALLER_DIGITS or len(set(digits)) == 1:
        return None
    mac = hmac.new(key.encode(), digits.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]
