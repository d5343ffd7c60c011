"""SR numbers: format, check digit, and the errors it catches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from line311.call.srnumber import (
    SR_SEQUENCE_MAX,
    check_digit,
    format_sr_number,
    make_sr_number,
    normalize_sr_number,
    sequence_of,
    validate_sr_number,
)

SEQS = st.integers(0, SR_SEQUENCE_MAX)


def test_known_values():
    assert make_sr_number(427) == "311000004273"
    assert make_sr_number(0) == "311000000006"
    assert format_sr_number("311000004273") == "311-00000427-3"
    assert normalize_sr_number("311-00000427 3") == "311000004273"
    assert sequence_of("311000004273") == 427


def test_damm_reference_vector():
    # The worked example of the Damm algorithm: "572" has check digit 4.
    assert check_digit("572") == "4"


@pytest.mark.parametrize(
    "bad",
    ["", "311", "31100000427", "3110000042730", "411000004272", "31100000427x", "311000004272"],
)
def test_invalid_numbers_are_rejected(bad):
    assert not validate_sr_number(bad)


@pytest.mark.parametrize("seq", [-1, SR_SEQUENCE_MAX + 1, True, 1.0])
def test_make_rejects_out_of_range(seq):
    with pytest.raises(ValueError, match="SR sequence"):
        make_sr_number(seq)


def test_helpers_reject_invalid_numbers():
    with pytest.raises(ValueError, match="not a valid SR number"):
        format_sr_number("123")
    with pytest.raises(ValueError, match="not a valid SR number"):
        sequence_of("123")
    with pytest.raises(ValueError, match="decimal digits"):
        check_digit("12a")


@settings(max_examples=200)
@given(SEQS)
def test_every_made_number_validates_and_round_trips(seq):
    sr = make_sr_number(seq)
    assert len(sr) == 12
    assert sr.isdigit()
    assert validate_sr_number(sr)
    assert sequence_of(sr) == seq


@settings(max_examples=200)
@given(SEQS, st.integers(0, 11), st.integers(1, 9))
def test_any_single_digit_error_is_detected(seq, pos, delta):
    sr = make_sr_number(seq)
    wrong = sr[:pos] + str((int(sr[pos]) + delta) % 10) + sr[pos + 1 :]
    assert not validate_sr_number(wrong)


@settings(max_examples=200)
@given(SEQS, st.integers(0, 10))
def test_any_adjacent_transposition_is_detected(seq, pos):
    sr = make_sr_number(seq)
    if sr[pos] == sr[pos + 1]:
        return
    swapped = sr[:pos] + sr[pos + 1] + sr[pos] + sr[pos + 2 :]
    assert not validate_sr_number(swapped)
