"""Personal data: phone numbers and e-mail addresses out of public free text; caller hashes."""

from __future__ import annotations

import pytest

from line311.privacy import REMOVED, caller_hash, redact_contacts

KEY = "k" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Inspector called resident at (212) 555-0147, jane@example.com",
            f"Inspector called resident at {REMOVED}, {REMOVED}",
        ),
        ("call back at 212 555 0147.", f"call back at {REMOVED}."),
        ("212-555-0147 or 212.555.0147", f"{REMOVED} or {REMOVED}"),
        ("(212)555-0147; 2125550147", f"{REMOVED}; {REMOVED}"),
        ("1-212-555-0147 / 12125550147", f"{REMOVED} / {REMOVED}"),
        ("+1 212 555 0147 or +44 20 7946 0958", f"{REMOVED} or {REMOVED}"),
        ("neighbour on 555-0147", f"neighbour on {REMOVED}"),
        ("ext: 212-555-0147x12", f"ext: {REMOVED}x12"),
        ("(mail j.doe+311@mail.nyc.gov).", f"(mail {REMOVED})."),
    ],
)
def test_phone_numbers_and_emails_become_a_marker_and_the_punctuation_stays(
    text: str, expected: str
) -> None:
    assert redact_contacts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "See SR 311000000011 and SR311000000029.",
        "Inspected 2024-05-01 at 10:30, again on 05/03/2024 between 9-5.",
        "120 Broadway, New York, NY 10005-1234; 350 5th Ave, Apt 4B.",
        "The 1200 1300 block of 3rd Ave; winter 2024-2025; 20240501.",
        "2+2=4 and 12 storeys",
    ],
)
def test_sr_numbers_dates_times_and_addresses_stay(text: str) -> None:
    assert redact_contacts(text) == text


def test_the_marker_can_be_chosen() -> None:
    assert redact_contacts("call 212 555 0147 now", marker="") == "call  now"


@pytest.mark.parametrize(
    "number",
    [None, "", "anonymous", "0", "00", "123456", "+1 (555) 01", "0000000000", "+1 000 000 0000",
     "11111111111", "9999999", "000-000-0000"],
)  # fmt: skip
def test_withheld_short_or_one_digit_numbers_get_no_caller_hash(number: str | None) -> None:
    assert caller_hash(number, KEY) is None


def test_real_numbers_get_one_stable_hash_whatever_their_punctuation() -> None:
    same = {caller_hash(n, KEY) for n in ("+1 (212) 555-0147", "212.555.0147", "12125550147")}
    assert len(same) == 1
    (digest,) = same
    assert digest is not None
    assert len(digest) == 32
    assert caller_hash("5550147", KEY) not in (None, digest)  # 7 digits: a local number
    assert caller_hash("2125550148", KEY) != digest
    assert caller_hash("2125550147", "other-key" * 4) != digest
