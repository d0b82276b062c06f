"""Attachments: content-addressed blobs, tus upload resources and the rules that need no network.

A photo, recording or scan is named by the SHA-256 of its bytes. The case record that
cites it (``attach_file``) travels with the outbox and never waits for the bytes; the bytes
travel separately, resumably, with the tus 1.0 core protocol (docs/sync-protocol.md,
"Attachments"). The server keeps each distinct content once.

Accepted media types (what a grid worker's phone produces and a browser can show or play):

- ``image/jpeg``, ``image/png``, ``image/webp``: photos and screenshots;
- ``application/pdf``: scanned letters, agreements, IDs;
- ``audio/mp4`` (AAC in an MP4/M4A box), ``audio/mpeg`` (MP3), ``audio/amr`` (the
  format of Android call and voice recorders and of WeChat voice exports).

HEIC is refused on purpose: browsers cannot display it, so a phone converts to JPEG
before it attaches. Video is refused: over 2G a clip costs more than the case record
itself, and the county has no use for it that a photo does not serve.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from grid.storage_types import UTCDateTime

TUS_VERSION = "1.0.0"
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Enough bytes to tell every accepted type apart (WebP needs 12, AMR-WB 9).
SNIFF_BYTES = 64

ACCEPTED_MEDIA_TYPES: tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/pdf",
    "audio/mp4",
    "audio/mpeg",
    "audio/amr",
)

# Names browsers and phones give the same formats.
MEDIA_TYPE_ALIASES: dict[str, str] = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/m4a": "audio/mp4",
    "audio/x-m4a": "audio/mp4",
    "audio/aac-mp4": "audio/mp4",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-amr": "audio/amr",
    "audio/amr-nb": "audio/amr",
    "audio/amr-wb": "audio/amr",
}

# Declared as "unknown": the type is taken from the bytes on completion.
UNDECLARED_TYPES = frozenset({"", "application/octet-stream"})

# ISO-BMFF brands of still images and video containers: an "ftyp" box alone is no M4A.
NON_AUDIO_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"qt  "}
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_METADATA_KEY = re.compile(r"^[!-+\--~]+$")  # printable ASCII without space or comma


class Blob(SQLModel, table=True):
    """One distinct content, stored once under ``blobs/<aa>/<sha256>`` and never rewritten."""

    __tablename__ = "file_blob"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    media_type: str = Field(max_length=100)
    stored_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Who sent it first; later uploads of the same bytes are answered complete at once.
    uploaded_by: uuid.UUID = Field(foreign_key="app_user.id")


class Upload(SQLModel, table=True):
    """A tus upload resource: the bytes received so far of one declared content."""

    __tablename__ = "file_upload"
    __table_args__ = (Index("ix_file_upload_owner_sha256", "owner_id", "sha256"),)

    id: uuid.UUID = Field(primary_key=True)
    sha256: str = Field(max_length=64)
    length: int
    # Bytes received and durably written to the part file.
    offset: int = 0
    # As declared (normalised); empty when the client did not say: taken from the bytes.
    media_type: str = Field(default="", max_length=100)
    filename: str = Field(default="", max_length=255)
    owner_id: uuid.UUID = Field(foreign_key="app_user.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="sync_device.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


# ------------------------------------------------------------------ hashes


def normalize_sha256(text: str | None) -> str | None:
    """The lowercase hex form, or None when ``text`` is not a SHA-256."""
    value = (text or "").strip().lower()
    return value if _SHA256.match(value) else None


def sha256_of_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def blob_path(root: Path, sha256: str) -> Path:
    """Two hex digits of fan-out keep a directory listing short at a million files."""
    return root / "blobs" / sha256[:2] / sha256


# ------------------------------------------------------------------ media types


def normalize_media_type(declared: str | None) -> str:
    """Lowercase, without parameters (``; codecs=…``), aliases folded to the accepted name."""
    value = (declared or "").split(";", 1)[0].strip().lower()
    return MEDIA_TYPE_ALIASES.get(value, value)


def is_accepted(media_type: str) -> bool:
    return media_type in ACCEPTED_MEDIA_TYPES


def sniff_media_type(head: bytes) -> str | None:
    """The accepted type whose signature starts ``head``, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "audio/amr"
    if head[4:8] == b"ftyp" and head[8:12] not in NON_AUDIO_BRANDS:
        return "audio/mp4"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return None


# ------------------------------------------------------------------ tus Upload-Metadata


def parse_upload_metadata(header: str | None) -> dict[str, str]:
    """``key base64,key2 base64,flag`` → {key: text}. Raises ValueError on a malformed header.

    tus 1.0: keys are ASCII without spaces or commas and unique; a value is base64 and may
    be missing (a flag). Values are decoded as UTF-8 (file names are Chinese).
    """
    result: dict[str, str] = {}
    if not header or not header.strip():
        return result
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2 or not _METADATA_KEY.match(parts[0]):
            raise ValueError(f"bad Upload-Metadata pair {pair.strip()!r}")
        key = parts[0]
        if key in result:
            raise ValueError(f"Upload-Metadata key {key!r} given twice")
        try:
            result[key] = base64.b64decode(parts[1], validate=True).decode() if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ValueError(f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text") from error
    return result


def encode_upload_metadata(values: Mapping[str, str | None]) -> str:
    pairs = []
    for key, value in values.items():
        if not _METADATA_KEY.match(key):
            raise ValueError(f"bad Upload-Metadata key {key!r}")
        pairs.append(key if value is None else f"{key} {base64.b64encode(value.encode()).decode('ascii')}")
    return ",".join(pairs)
