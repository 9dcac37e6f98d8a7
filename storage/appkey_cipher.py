"""AppKeys at rest: AES-256-GCM (`cryptography`), bound to their DevEUI, with a key id.

Stored value = 12-byte random nonce + ciphertext and tag; the DevEUI is the associated data,
so a ciphertext copied to another device's row does not decrypt. The key id is derived from
the key itself (no separate id to configure), which lets old keys stay configured for reading
while a rotation (`icone devices rekey`) re-encrypts every row with the current key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import StorageError

_NONCE = 12


class AppKeyCipherError(StorageError):
    """A stored AppKey cannot be read with the configured keys."""


def parse_key(text: str) -> bytes:
    """A 32-byte key written as URL-safe base64 (what `generate_key` returns)."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("must be 32 bytes in URL-safe base64 (icone devices genkey)") from None
    if len(raw) != 32:
        raise ValueError(
            f"must be 32 bytes in URL-safe base64, got {len(raw)} bytes (icone devices genkey)"
        )
    return raw


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def key_id(raw: bytes) -> str:
    """Public fingerprint of a key (never the key): 16 hex characters."""
    return hashlib.sha256(b"icone-appkey-id\0" + raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    ciphertext: bytes


class AppKeyCipher:
    """Encrypts with the current key; decrypts with the current or any older configured key."""

    def __init__(self, current: bytes, older: tuple[bytes, ...] = ()) -> None:
        self.current_id = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*older, current)}

    def __repr__(self) -> str:  # never the keys
        return f"AppKeyCipher(current_id={self.current_id!r}, keys={len(self._keys)})"

    def seal(self, dev_eui: str, app_key: str) -> Sealed:
        nonce = os.urandom(_NONCE)
        box = self._keys[self.current_id].encrypt(nonce, app_key.encode("ascii"), _aad(dev_eui))
        return Sealed(self.current_id, nonce + box)

    def open(self, dev_eui: str, sealed: Sealed) -> str:
        aes = self._keys.get(sealed.key_id)
        if aes is None:
            raise AppKeyCipherError(
                f"the AppKey of device {dev_eui} was encrypted with key id {sealed.key_id}, which "
                f"is not configured (current key id {self.current_id}): add that key to "
                "ICONE_REGISTRY__OLD_SECRET_KEYS"
            )
        data = sealed.ciphertext
        try:
            return aes.decrypt(data[:_NONCE], data[_NONCE:], _aad(dev_eui)).decode("ascii")
        except InvalidTag:
            raise AppKeyCipherError(
                f"the stored AppKey of device {dev_eui} does not decrypt with key id "
                f"{sealed.key_id} (damaged row or wrong key); register its AppKey again"
            ) from None


def _aad(dev_eui: str) -> bytes:
    return b"icone-appkey\0" + dev_eui.lower().encode("ascii")
