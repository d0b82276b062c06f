from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from server.crypto import FieldCipher, generate_key_text

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
URLSAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(KEY)


def flip_byte(token: str, index: int) -> str:
    blob = bytearray(base64.urlsafe_b64decode(token[3:]))
    blob[index] ^= 0x01
    return "v1:" + base64.urlsafe_b64encode(bytes(blob)).decode("ascii")


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"", b"x" * 16, b"x" * 31, b"x" * 33])
def test_should_reject_a_master_key_that_is_not_32_bytes(key: bytes) -> None:
    with pytest.raises(ValueError):
        FieldCipher(key)


def test_should_build_a_cipher_from_a_generated_key_text() -> None:
    text = generate_key_text()
    assert len(base64.urlsafe_b64decode(text)) == 32
    cipher = FieldCipher.from_setting(text)
    assert cipher.decrypt(cipher.encrypt("张三")) == "张三"


def test_should_generate_a_different_key_each_time() -> None:
    assert generate_key_text() != generate_key_text()


def test_should_read_the_same_key_from_its_setting_text() -> None:
    text = base64.urlsafe_b64encode(KEY).decode("ascii")
    token = FieldCipher(KEY).encrypt("同一把钥匙")
    assert FieldCipher.from_setting(text).decrypt(token) == "同一把钥匙"
    # Surrounding whitespace and dropped padding come from hand-edited .env files.
    assert FieldCipher.from_setting(f"  {text.rstrip('=')}\n").decrypt(token) == "同一把钥匙"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"x" * 16).decode("ascii"),  # 16 bytes: AES-128 size
        base64.urlsafe_b64encode(b"x" * 33).decode("ascii"),
        KEY.hex(),  # hex instead of base64
    ],
)
def test_should_reject_bad_key_text_with_a_message_naming_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match="FENGQIAO_DATA_KEY"):
        FieldCipher.from_setting(text)


def test_should_not_repeat_the_bad_key_text_in_the_error_message() -> None:
    nearly_a_key = base64.urlsafe_b64encode(b"s3cret-material-31-bytes-long!!").decode("ascii")
    with pytest.raises(ValueError) as caught:
        FieldCipher.from_setting(nearly_a_key)
    assert nearly_a_key not in str(caught.value)


def test_should_not_show_key_material_in_its_repr(cipher: FieldCipher) -> None:
    assert KEY.hex() not in repr(cipher)
    assert "hidden" in repr(cipher)


# --- encryption --------------------------------------------------------------------------


def test_should_round_trip_a_personal_field(cipher: FieldCipher) -> None:
    token = cipher.encrypt("11010519491231002X")
    assert token.startswith("v1:")
    assert "11010519491231002X" not in token
    assert cipher.decrypt(token) == "11010519491231002X"


def test_should_round_trip_with_a_field_context(cipher: FieldCipher) -> None:
    token = cipher.encrypt("陕西省安康市汉滨区五里镇东坝村3组", context="party.address")
    assert cipher.decrypt(token, "party.address") == "陕西省安康市汉滨区五里镇东坝村3组"


@given(st.text())
def test_should_round_trip_any_text(plaintext: str) -> None:
    cipher = FieldCipher(KEY)
    assert cipher.decrypt(cipher.encrypt(plaintext, "f"), "f") == plaintext


def test_should_encode_nonce_and_ciphertext_as_urlsafe_base64(cipher: FieldCipher) -> None:
    token = cipher.encrypt("abc")
    blob = base64.urlsafe_b64decode(token[3:])
    assert len(blob) == 12 + 3 + 16  # 96-bit nonce, ciphertext, GCM tag
    assert set(token[3:]) <= set(URLSAFE_ALPHABET)


def test_should_produce_a_different_token_each_time_for_the_same_text(
    cipher: FieldCipher,
) -> None:
    tokens = {cipher.encrypt("13812341234") for _ in range(20)}
    assert len(tokens) == 20


def test_should_refuse_a_token_with_one_byte_tampered(cipher: FieldCipher) -> None:
    token = cipher.encrypt("13812341234")
    blob_length = len(base64.urlsafe_b64decode(token[3:]))
    for index in range(blob_length):  # nonce, ciphertext and tag alike
        with pytest.raises(ValueError):
            cipher.decrypt(flip_byte(token, index))


# Made once so hypothesis sees the same token on every run of the property below.
LANDLINE_TOKEN = FieldCipher(KEY).encrypt("0914-4321234")


@given(
    st.integers(min_value=0, max_value=len(LANDLINE_TOKEN) - 1),
    st.sampled_from(URLSAFE_ALPHABET + ":v+/ "),
)
def test_should_refuse_a_token_with_any_single_character_changed(position: int, replacement: str) -> None:
    # Includes the last character, whose low bits base64 does not use: a lenient decoder
    # would accept some of those changes.
    assume(LANDLINE_TOKEN[position] != replacement)
    changed = LANDLINE_TOKEN[:position] + replacement + LANDLINE_TOKEN[position + 1 :]
    with pytest.raises(ValueError):
        FieldCipher(KEY).decrypt(changed)


def test_should_refuse_a_truncated_or_foreign_token(cipher: FieldCipher) -> None:
    token = cipher.encrypt("abc")
    for bad in [token[:-4], "v1:", "v1:AAAA", "v2:" + token[3:], token[3:], "", "明文"]:
        with pytest.raises(ValueError):
            cipher.decrypt(bad)


def test_should_refuse_to_decrypt_with_the_wrong_key(cipher: FieldCipher) -> None:
    token = cipher.encrypt("11010519491231002X")
    with pytest.raises(ValueError):
        FieldCipher(OTHER_KEY).decrypt(token)


def test_should_refuse_to_decrypt_a_token_moved_to_another_field(cipher: FieldCipher) -> None:
    token = cipher.encrypt("11010519491231002X", context="party.id_number")
    with pytest.raises(ValueError):
        cipher.decrypt(token, "party.phone")
    with pytest.raises(ValueError):
        cipher.decrypt(token)


# --- blind index -------------------------------------------------------------------------


def test_should_give_the_same_blind_index_for_the_same_value(cipher: FieldCipher) -> None:
    first = cipher.blind_index("11010519491231002X", "party.id_number")
    again = FieldCipher(KEY).blind_index("11010519491231002X", "party.id_number")
    assert first == again
    assert len(first) == 64
    int(first, 16)  # hex


def test_should_give_different_blind_indexes_for_different_values(cipher: FieldCipher) -> None:
    assert cipher.blind_index("11010519491231002X", "party.id_number") != cipher.blind_index(
        "610924198002291236", "party.id_number"
    )


def test_should_give_different_blind_indexes_per_context(cipher: FieldCipher) -> None:
    assert cipher.blind_index("13812341234", "party.phone") != cipher.blind_index("13812341234", "worker.phone")


def test_should_not_confuse_where_the_context_ends_and_the_value_begins(
    cipher: FieldCipher,
) -> None:
    assert cipher.blind_index("c", "ab") != cipher.blind_index("bc", "a")


def test_should_give_different_blind_indexes_per_key(cipher: FieldCipher) -> None:
    assert cipher.blind_index("11010519491231002X", "party.id_number") != FieldCipher(OTHER_KEY).blind_index(
        "11010519491231002X", "party.id_number"
    )


def test_should_require_a_context_for_a_blind_index(cipher: FieldCipher) -> None:
    with pytest.raises(ValueError):
        cipher.blind_index("11010519491231002X", "")


def test_should_not_be_a_plain_hash_of_the_value(cipher: FieldCipher) -> None:
    import hashlib

    value = "11010519491231002X"
    index = cipher.blind_index(value, "party.id_number")
    assert index != hashlib.sha256(value.encode()).hexdigest()
    assert index != hashlib.sha256(("party.id_number" + value).encode()).hexdigest()


def test_should_derive_separate_subkeys_for_encryption_and_blind_index() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    cipher = FieldCipher(KEY)
    token = cipher.encrypt("abc")
    blob = base64.urlsafe_b64decode(token[3:])
    nonce, sealed = blob[:12], blob[12:]

    # The master key itself does not open the token ...
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag, whatever the library calls it
        AESGCM(KEY).decrypt(nonce, sealed, b"")
    # ... the HKDF subkey for encryption does, and it differs from the blind-index subkey.
    enc_key = HKDF(hashes.SHA256(), 32, None, b"fengqiao/v1/field-encryption").derive(KEY)
    idx_key = HKDF(hashes.SHA256(), 32, None, b"fengqiao/v1/blind-index").derive(KEY)
    assert AESGCM(enc_key).decrypt(nonce, sealed, b"") == b"abc"
    assert enc_key != idx_key
