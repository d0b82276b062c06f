"""Attachment contents for tests: the right signatures, incompressible bodies (like real photos)."""

from __future__ import annotations

import hashlib
import random

JFIF_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def jpeg(size: int = 300 * 1024, seed: int = 1) -> bytes:
    """A JPEG-framed body of ``size`` bytes (SOI + JFIF header … EOI)."""
    return JFIF_HEADER + noise(size - len(JFIF_HEADER) - 2, seed) + b"\xff\xd9"


def png(size: int = 4096, seed: int = 2) -> bytes:
    return PNG_HEADER + noise(size - len(PNG_HEADER), seed)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
