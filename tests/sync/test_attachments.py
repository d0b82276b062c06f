"""The attachment rules that need no server: tus metadata, media types, hashes."""

from __future__ import annotations

import pytest

from sync.attachments import (
    ACCEPTED_MEDIA_TYPES,
    encode_upload_metadata,
    normalize_media_type,
    normalize_sha256,
    parse_upload_metadata,
    sha256_of_file,
    sniff_media_type,
)
from tests.media import jpeg, png, sha256


def test_should_read_back_the_metadata_it_encodes_including_chinese_names_and_flags():
    values = {
        "sha256": "ab" * 32,
        "filename": "调解协议书（签字）.pdf",
        "filetype": "application/pdf",
        "is_confidential": None,
    }
    header = encode_upload_metadata(values)
    assert header.startswith("sha256 ")
    assert parse_upload_metadata(header) == {**values, "is_confidential": ""}


def test_should_read_metadata_as_tus_js_client_writes_it():
    # tus-js-client: "key base64" pairs joined by ",", no spaces around the comma.
    assert parse_upload_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential") == {
        "filename": "world_domination_plan.pdf",
        "is_confidential": "",
    }
    assert parse_upload_metadata(None) == {} == parse_upload_metadata("  ")


@pytest.mark.parametrize(
    "header",
    ["filename !!!", "sha256 YQ==,sha256 Yg==", "two words here", "a YQ==,,b Yg==", "k\u00e9y YQ==", "name /w=="],
)
def test_should_refuse_malformed_metadata(header):
    with pytest.raises(ValueError):
        parse_upload_metadata(header)


def test_should_refuse_to_encode_a_key_tus_cannot_carry():
    with pytest.raises(ValueError):
        encode_upload_metadata({"file name": "x"})


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (jpeg(100), "image/jpeg"),
        (png(100), "image/png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
        (b"ID3\x04\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64", "audio/mpeg"),
        (b"#!AMR\n\x3c", "audio/amr"),
        (b"#!AMR-WB\n\x04", "audio/amr"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", None),  # an iPhone photo: not accepted
        (b"PK\x03\x04", None),
        (b"", None),
    ],
)
def test_should_tell_each_accepted_type_by_its_first_bytes(head, expected):
    assert sniff_media_type(head) == expected


def test_should_fold_the_names_phones_give_the_same_formats():
    assert normalize_media_type("image/JPG") == "image/jpeg"
    assert normalize_media_type("audio/x-m4a") == "audio/mp4"
    assert normalize_media_type("audio/mpeg; charset=binary") == "audio/mpeg"
    assert normalize_media_type(None) == ""
    assert all(normalize_media_type(kind) == kind for kind in ACCEPTED_MEDIA_TYPES)


def test_should_accept_only_sha256_hex_and_hash_a_file_like_hashlib(tmp_path):
    assert normalize_sha256(" " + "AB" * 32) == "ab" * 32
    assert normalize_sha256("ab" * 31) is None
    assert normalize_sha256("zz" * 32) is None
    data = jpeg(3 * 1024 * 1024 + 7)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    assert sha256_of_file(path) == sha256(data)
