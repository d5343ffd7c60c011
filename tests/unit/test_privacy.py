"""Personal data: phone numbers and e-mail addresses out of public free text; caller hashes."""

from __future__ import annotations

import time

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
        ("0044 20 7946 0958 or 011 44 20 7946 0958", f"{REMOVED} or {REMOVED}"),
        ("in Paris: 00 33 1 42 68 53 00.", f"in Paris: {REMOVED}."),
        ("0044 (0)20 7946 0958, 0049-30-1234567", f"{REMOVED}, {REMOVED}"),
        ("011 1 212 555 0147x3; 00.61.2.9374.4000", f"{REMOVED}x3; {REMOVED}"),
        ("after 10:00 0044 20 7946 0958 0033 1 42 68 53 00", f"after 10:00 {REMOVED} {REMOVED}"),
        ("SR 311-00123456-7 to 0044 20 7946 0958", f"SR 311-00123456-7 to {REMOVED}"),
        # an exit prefix written onto its country code right after a digit and a dot or dash
        ("paid 12.00-0044 20 7946 0958", f"paid 12.00-{REMOVED}"),
        ("at 12.00.0044 20 7946 0958", f"at 12.00.{REMOVED}"),
        ("2024-05-01-0033 1 42 68 53 00", f"2024-05-01-{REMOVED}"),
        ("212-555-0147-0044 20 7946 0958", f"{REMOVED}-{REMOVED}"),
        ("12.00-011 44 20 7946 0958", f"12.00-{REMOVED}"),
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
        "SR 311-00123456-7, 311 00123456 7 and 311001234567 (zero-padded: 00 inside).",
        "311-00123456-7 2024 05 01; 311 00123456 7 1200 1300 block",
        "San Juan, PR 00901-1234; paid $1,000.00 2024 0501; at 00:30 and 00.45.",
        "0011 2222; 00 0000 0000; 00441234567890123456789 (too long for a phone number)",
        "SR 311.00123456.7 2024 05 01; 311-01123456-7 2024 05 01; 311-00123456-7 1200 1300",
        "$1,000.00 2024 0501 and 12.00-00.30; ZIP 10005-0012; 104-00 Queens Blvd 11375",
    ],
)
def test_sr_numbers_dates_times_and_addresses_stay(text: str) -> None:
    assert redact_contacts(text) == text


@pytest.mark.parametrize(
    "run",
    ["9" * 50_000, "1 " * 25_000, "+1 " * 16_000, "00 " * 16_000, "0044-1" * 8_000,
     "011 (1)" * 7_000, "a" * 50_000, "a." * 25_000, "(212)" * 10_000],
)  # fmt: skip
def test_long_runs_of_digits_or_address_characters_take_linear_time(run: str) -> None:
    # a ratio, not a time (no bound in seconds to break on a slow machine): four times the
    # text takes about four times as long when linear, sixteen times when quadratic (a
    # quadratic pattern took 0.5 s on 8,000 digits); the best of 5 runs of each. CPU time
    # of this thread, not the wall clock: on two shared cores the longer run was preempted
    # in each of its 5 tries more often than the short one (ratios past 10 in full runs)
    def best(text: str) -> float:
        times = []
        for _ in range(5):
            started = time.thread_time()
            redact_contacts(text)
            times.append(time.thread_time() - started)
        return min(times)

    assert best(run * 4) / best(run) < 10


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
