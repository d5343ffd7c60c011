"""A callback's contact is sealed (AES-GCM) for the call's saved state and opens only with
the same key, for the same call, unaltered."""

from __future__ import annotations

import base64

import pytest

from line311.ari.contact_seal import Contact, ContactSeal, ContactSealError

KEY = "test-contact-key-0123456789"
NUMBER = "2125550199"
CONTACT = Contact(number=NUMBER, address="127.0.0.1:5099")


def test_a_sealed_contact_opens_for_its_call_and_shows_no_number() -> None:
    seal = ContactSeal(KEY)
    token = seal.seal("c1", CONTACT)
    assert token.startswith("v1.")
    assert NUMBER not in token
    assert NUMBER.encode() not in base64.urlsafe_b64decode(token[3:])
    assert seal.open("c1", token) == CONTACT
    assert seal.seal("c1", CONTACT) != token  # a fresh nonce each time
    assert NUMBER not in repr(CONTACT)
    assert KEY not in repr(seal)


@pytest.mark.parametrize(
    ("key", "call_id"),
    [("another-contact-key-987654321", "c1"), (KEY, "c2")],
    ids=["another key", "another call"],
)
def test_a_contact_does_not_open_with_another_key_or_for_another_call(
    key: str, call_id: str
) -> None:
    token = ContactSeal(KEY).seal("c1", CONTACT)
    with pytest.raises(ContactSealError, match="does not open") as caught:
        ContactSeal(key).open(call_id, token)
    assert NUMBER not in str(caught.value)
    assert caught.value.error_id == "callback-contact-unreadable"


def _flip(token: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[at] ^= 0x01
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("at", [0, 12, -1], ids=["nonce", "ciphertext", "tag"])
def test_an_altered_token_does_not_open(at: int) -> None:
    seal = ContactSeal(KEY)
    with pytest.raises(ContactSealError):
        seal.open("c1", _flip(seal.seal("c1", CONTACT), at))


@pytest.mark.parametrize("token", ["", "v2.abc", "v1.@@@", "v1.YWJj", NUMBER])
def test_a_malformed_token_is_a_clear_error(token: str) -> None:
    with pytest.raises(ContactSealError):
        ContactSeal(KEY).open("c1", token)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ContactSeal("")
