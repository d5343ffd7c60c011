"""A callback's contact, sealed for the call's saved state (edge of `line311.queue.leg`).

A caller who accepts a callback hangs up and keeps their place; when their turn comes the
controller dials the number and SIP address read from their channel (`ReadContact`). That
contact must outlive a controller restart, so it rides with the queued call's saved state
(Redis and its append-only file) — but never in clear text: only as a token of authenticated
encryption (AES-256-GCM from ``cryptography``)::

    token = "v1." + base64url(nonce (12 bytes) || AESGCM(key, nonce, contact JSON, aad))
    key   = HKDF-SHA256(callback_contact_key, info="line311 callback contact v1")
    aad   = the call id (a token copied into another call's state does not open)

The token is deleted with the call's saved state when the callback is done or abandoned.
A token that does not open (another key, altered bytes, another call) raises
`ContactSealError`, whose message never carries the contact: the caller of `open` decides
what becomes of the callback.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from line311.errors import Line311Error

__all__ = ["Contact", "ContactSeal", "ContactSealError"]

_VERSION = "v1."
_INFO = b"line311 callback contact v1"
_NONCE = 12


@dataclass(slots=True)
class Contact:
    """Where to call a resident back. Never logged (hence repr=False)."""

    number: str = field(repr=False)
    address: str = field(repr=False)


class ContactSealError(Line311Error):
    """A sealed contact could not be opened: another key, altered bytes, or another call's
    token (local: the deployment's key or the stored state is not what it should be)."""

    error_id = "callback-contact-unreadable"


class ContactSeal:
    """Seals and opens `Contact` tokens under one key (see the module docstring)."""

    __slots__ = ("_aead",)

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("callback contact key is empty")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "ContactSeal(<key hidden>)"

    def seal(self, call_id: str, contact: Contact) -> str:
        """The token of ``contact`` for call ``call_id`` (a fresh nonce each time)."""
        nonce = os.urandom(_NONCE)
        plain = json.dumps({"number": contact.number, "address": contact.address}).encode()
        sealed = self._aead.encrypt(nonce, plain, call_id.encode())
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, call_id: str, token: str) -> Contact:
        """The contact sealed in ``token`` for ``call_id``; `ContactSealError` if it does not
        open under this key for this call."""
        if not isinstance(token, str) or not token.startswith(_VERSION):
            raise ContactSealError("sealed contact has an unknown format")
        try:
            raw = base64.urlsafe_b64decode(token[len(_VERSION) :].encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise ContactSealError("sealed contact is not valid base64") from None
        if len(raw) <= _NONCE:
            raise ContactSealError("sealed contact is too short")
        try:
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], call_id.encode())
        except InvalidTag:
            raise ContactSealError(
                "sealed contact does not open: another callback_contact_key, altered state, "
                "or another call's token"
            ) from None
        try:
            data = json.loads(plain)
            return Contact(number=str(data["number"]), address=str(data["address"]))
        except (ValueError, KeyError, TypeError):
            raise ContactSealError("sealed contact has no number and address") from None
