"""Encryption at rest of personal fields, and a blind index to find them again.

ID numbers, addresses and petition content are sensitive together (PIPL Art. 28), so they
are stored encrypted. The blind index (a keyed HMAC) lets the server answer "have we seen
this ID number before?" with an equality lookup, without decrypting every row and without
storing a plain hash that anyone could brute-force over the small ID number space.

One 32-byte master key (setting ``FENGQIAO_DATA_KEY``) yields two independent subkeys via
HKDF, so a leak of index values says nothing about the encryption key and vice versa.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["FieldCipher", "generate_key_text"]

KEY_SETTING = "FENGQIAO_DATA_KEY"
_KEY_BYTES = 32
_NONCE_BYTES = 12  # 96 bits, the size GCM is specified for
_TAG_BYTES = 16
_TOKEN_PREFIX = "v1:"
# Distinct info strings are what make the two subkeys independent; changing either one
# makes every stored token or index unreadable, so they are part of the data format.
_ENCRYPTION_INFO = b"fengqiao/v1/field-encryption"
_BLIND_INDEX_INFO = b"fengqiao/v1/blind-index"


def _derive(master: bytes, info: bytes) -> bytes:
    # No salt: the master key is already uniformly random, and a salt would be one more
    # secret to keep next to it.
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=info).derive(master)


def _b64_decode_canonical(text: str) -> bytes:
    """Strict urlsafe base64: only the canonical encoding of some bytes is accepted.

    Lenient decoding would ignore stray characters and the unused low bits of the last
    character, so two different strings would decode to the same bytes.
    """
    try:
        raw = base64.b64decode(text.translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid urlsafe base64") from None
    if base64.urlsafe_b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical urlsafe base64")
    return raw


class FieldCipher:
    """AES-256-GCM for personal fields plus an HMAC-SHA256 blind index."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != _KEY_BYTES:
            raise ValueError(f"the data key must be exactly {_KEY_BYTES} bytes")
        # Only the subkeys are kept; the master key is not needed after derivation.
        self._aead = AESGCM(_derive(bytes(key), _ENCRYPTION_INFO))
        self._index_key = _derive(bytes(key), _BLIND_INDEX_INFO)

    def __repr__(self) -> str:
        return "FieldCipher(<key hidden>)"

    @classmethod
    def from_setting(cls, text: str) -> FieldCipher:
        """Build from the ``FENGQIAO_DATA_KEY`` setting (urlsafe base64 of 32 bytes)."""
        message = (
            f"{KEY_SETTING} 配置无效：须为 32 字节随机密钥的 URL 安全 Base64 编码"
            "（44 个字符，可运行 `fengqiao keygen` 生成）"
        )
        # The message never repeats the text: a near-miss key is still mostly a secret.
        candidate = (text or "").strip()
        candidate += "=" * (-len(candidate) % 4)  # tolerate dropped padding in .env files
        try:
            key = _b64_decode_canonical(candidate)
        except ValueError:
            raise ValueError(message) from None
        if len(key) != _KEY_BYTES:
            raise ValueError(message)
        return cls(key)

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """Encrypt to ``"v1:" + urlsafe_b64(nonce + ciphertext + tag)``.

        ``context`` (e.g. ``"party.id_number"``) is bound as associated data, so a token
        copied into another column fails to decrypt there.
        """
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, context: str = "") -> str:
        """Reverse ``encrypt``; ValueError if the token was altered, or key/context differ."""
        if not token.startswith(_TOKEN_PREFIX):
            raise ValueError("unknown encrypted field format")
        blob = _b64_decode_canonical(token[len(_TOKEN_PREFIX) :])
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            raise ValueError("encrypted field is truncated")
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        try:
            plaintext = self._aead.decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise ValueError("encrypted field failed authentication (altered, wrong key or wrong context)") from None
        return plaintext.decode("utf-8")

    def blind_index(self, value: str, context: str) -> str:
        """Deterministic keyed digest (hex) of ``value`` within ``context``.

        Callers pass the normalised value (e.g. ``ResidentId.value``): this layer does not
        know that "x" and "X" are the same check character. ``context`` keeps equal
        values in different fields from sharing an index.
        """
        if not context:
            raise ValueError("blind_index needs a context such as 'party.id_number'")
        encoded_context = context.encode("utf-8")
        # Length-prefixing the context keeps ("ab", "c") and ("a", "bc") apart.
        message = len(encoded_context).to_bytes(4, "big") + encoded_context
        message += value.encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def generate_key_text() -> str:
    """A fresh random master key in the ``FENGQIAO_DATA_KEY`` format."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")
