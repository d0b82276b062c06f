"""Resident ID numbers (GB 11643), phone numbers and masks for lists and exports.

Pure domain code: no I/O and no clock. Parse functions raise ``IdentityRuleError`` with a
stable ``rule`` code and a message a grid worker can read; callers that validate whole
payloads turn it into an ``Issue`` (see ``IdentityRuleError.issue``) so one answer names
every bad field.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from grid.errors import Issue

__all__ = [
    "IdNumberStatus",
    "IdentityRuleError",
    "Phone",
    "PhoneKind",
    "ResidentId",
    "check_character",
    "mask_address",
    "mask_id_number",
    "mask_phone",
    "normalize_phone",
    "parse_resident_id",
]


class IdentityRuleError(ValueError):
    """An ID number or phone number broke a rule; ``rule`` is a stable code."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message

    def issue(self, field_name: str) -> Issue:
        return Issue(field_name, self.rule, self.message)


# ---------------------------------------------------------------------------------------
# Resident ID numbers
# ---------------------------------------------------------------------------------------


class IdNumberStatus(StrEnum):
    VALID = "valid"
    LEGACY_15 = "legacy_15"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ResidentId:
    value: str | None
    status: IdNumberStatus
    birth_date: date | None
    sex: str | None
    unknown_reason: str | None


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
# ASCII only: str.isdigit() would also accept Arabic-Indic or superscript digits.
_DIGITS_17 = re.compile(r"[0-9]{17}")
_ID_18 = re.compile(r"[0-9]{17}[0-9X]")
_ID_15 = re.compile(r"[0-9]{15}")
_EARLIEST_BIRTH_YEAR = 1900


def check_character(first17: str) -> str:
    """The GB 11643 (ISO 7064 MOD 11-2) check character for the first 17 digits."""
    if not _DIGITS_17.fullmatch(first17):
        raise IdentityRuleError("id_number.format", "身份证号前17位必须是数字")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def _normalise_id_text(raw: str) -> str:
    # NFKC turns full-width "１２３Ｘ" from Chinese input methods into ASCII, and the
    # ideographic space into a plain one, so one strip of whitespace covers both.
    text = unicodedata.normalize("NFKC", raw)
    return "".join(text.split()).upper()


def _birth_date(year: int, month: int, day: int) -> date:
    try:
        born = date(year, month, day)
    except ValueError:
        raise IdentityRuleError("id_number.birth_date", "身份证号中的出生日期不是有效日期") from None
    if born.year < _EARLIEST_BIRTH_YEAR:
        raise IdentityRuleError("id_number.birth_date", "身份证号中的出生日期早于1900年")
    return born


def _sex(order_code_last_digit: str) -> str:
    # GB 11643: odd order codes are assigned to men, even ones to women.
    return "male" if int(order_code_last_digit) % 2 == 1 else "female"


def parse_resident_id(raw: str | None, *, unknown_reason: str | None = None) -> ResidentId:
    """Validate and normalise a resident ID number.

    An empty number is allowed only with a reason (many villagers have no card at hand).
    When a number is given it wins and ``unknown_reason`` is dropped: a known number is
    never recorded as unknown.
    """
    text = _normalise_id_text(raw) if raw is not None else ""
    if not text:
        reason = unknown_reason.strip() if unknown_reason is not None else ""
        if not reason:
            raise IdentityRuleError("id_number.unknown_needs_reason", "未提供身份证号时须说明原因")
        return ResidentId(None, IdNumberStatus.UNKNOWN, None, None, reason)

    if len(text) == 18:
        return _parse_18(text)
    if len(text) == 15:
        return _parse_15(text)
    raise IdentityRuleError("id_number.length", f"身份证号应为18位（旧证为15位），现为{len(text)}位")


def _check_address_code(text: str) -> None:
    # Only the shape is checked: division codes change every year and an old card with a
    # retired code is still a valid card.
    if text[0] == "0":
        raise IdentityRuleError("id_number.format", "身份证号前6位地址码不能以0开头")


def _parse_18(text: str) -> ResidentId:
    if not _ID_18.fullmatch(text):
        raise IdentityRuleError("id_number.format", "身份证号前17位必须是数字，最后一位是数字或X")
    _check_address_code(text)
    born = _birth_date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    if check_character(text[:17]) != text[17]:
        raise IdentityRuleError("id_number.checksum", "身份证号校验位不正确，请核对是否有数字录错")
    return ResidentId(text, IdNumberStatus.VALID, born, _sex(text[16]), None)


def _parse_15(text: str) -> ResidentId:
    if not _ID_15.fullmatch(text):
        raise IdentityRuleError("id_number.format", "15位旧身份证号必须全部是数字")
    _check_address_code(text)
    # 15-digit cards (issued until 1999) carry a two-digit year, always 19YY.
    born = _birth_date(1900 + int(text[6:8]), int(text[8:10]), int(text[10:12]))
    return ResidentId(text, IdNumberStatus.LEGACY_15, born, _sex(text[14]), None)


# ---------------------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------------------


class PhoneKind(StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"


@dataclass(frozen=True)
class Phone:
    kind: PhoneKind
    number: str


_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Area code (with its leading 0) plus a 7- or 8-digit local number.
_LANDLINE_DIGITS = re.compile(r"0[0-9]{9,11}")
# Separators people type between digit groups; NFKC has already folded the full-width
# forms （）－ into ASCII, the other dashes survive it.
_PHONE_SEPARATORS = re.compile(r"[\s\-()\u2010-\u2015\u2212]")
_PHONE_FORMAT_MESSAGE = "电话号码格式不正确：手机号为1开头的11位数字，座机号为区号加7到8位号码（如0914-4321234）"


def _area_code_length(digits: str) -> int:
    # Beijing (010) and the 02x big cities have 3-digit area codes; every other area
    # code is 4 digits, which is what lets us split a number typed without a dash.
    return 3 if digits.startswith("010") or digits[1] == "2" else 4


def normalize_phone(raw: str) -> Phone:
    """Normalise a mobile ("13812341234") or landline ("0914-4321234") number."""
    text = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if not text:
        raise IdentityRuleError("phone.format", "未填写电话号码")

    international = False
    if text.startswith("+86"):
        text, international = text[3:], True
    elif text.startswith("0086"):
        text, international = text[4:], True
    elif len(text) == 13 and text.startswith("86") and _MOBILE.fullmatch(text[2:]):
        # Bare "86" only for mobiles: "86…" could be the start of a local number.
        text = text[2:]

    if not text.isascii() or not text.isdigit():
        raise IdentityRuleError("phone.format", _PHONE_FORMAT_MESSAGE)

    if _MOBILE.fullmatch(text):
        return Phone(PhoneKind.MOBILE, text)

    if international and not text.startswith("0"):
        # Dialled from abroad the trunk 0 is dropped: "+86 914 4321234".
        text = "0" + text
    if _LANDLINE_DIGITS.fullmatch(text):
        split = _area_code_length(text)
        local = text[split:]
        if 7 <= len(local) <= 8:
            return Phone(PhoneKind.LANDLINE, f"{text[:split]}-{local}")
    raise IdentityRuleError("phone.format", _PHONE_FORMAT_MESSAGE)


# ---------------------------------------------------------------------------------------
# Masks for lists and exports
# ---------------------------------------------------------------------------------------


def mask_id_number(value: str) -> str:
    """``11010519491231002X`` -> ``110105********002X``; 15 digits keep first 6, last 3.

    Anything that is not 15 or 18 characters (bad legacy data) is masked completely:
    a mask must never be the place where a number leaks.
    """
    text = _normalise_id_text(value)
    if len(text) == 18:
        return text[:6] + "*" * 8 + text[-4:]
    if len(text) == 15:
        return text[:6] + "*" * 6 + text[-3:]
    return "*" * len(text)


def mask_phone(phone: Phone | str) -> str:
    """Mobile ``138****1234``; landline ``0914-****234`` / ``029-****5678``.

    A string that does not parse as a phone number (old records) keeps only its last 4
    digits, and nothing when it is too short for that to be safe.
    """
    if isinstance(phone, str):
        try:
            phone = normalize_phone(phone)
        except IdentityRuleError:
            return _mask_digits(phone)
    if phone.kind is PhoneKind.MOBILE:
        return phone.number[:3] + "****" + phone.number[-4:]
    area, _, local = phone.number.partition("-")
    if not local:
        # A hand-built Phone without the dash: do not guess where the area code ends.
        return _mask_digits(phone.number)
    # Always hide 4 digits, so a 7-digit local number shows 3 and an 8-digit one shows 4.
    return f"{area}-****{local[4:]}"


def _mask_digits(text: str) -> str:
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 8:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(digits)


_ADDRESS_MARKERS = re.compile(r"街道|社区|乡|镇|村")
_ADDRESS_FALLBACK_CHARS = 6


def mask_address(address: str) -> str:
    """Keep the administrative part of an address and hide the rest.

    Kept: everything up to and including the first 乡/镇/街道/村/社区, e.g.
    ``陕西省安康市汉滨区五里镇东坝村3组`` -> ``陕西省安康市汉滨区五里镇****``. Without such a
    marker, or when the text before it already holds a digit (a house number, so the
    marker word is part of a street or compound name), the first 6 characters are kept,
    cut before any digit and never more than half the text.
    """
    text = address.strip()
    if not text:
        return ""
    marker = _ADDRESS_MARKERS.search(text)
    if marker is not None and not any(ch.isdigit() for ch in text[: marker.end()]):
        return text[: marker.end()] + "****"
    kept = text[: min(_ADDRESS_FALLBACK_CHARS, len(text) // 2)]
    for index, ch in enumerate(kept):
        if ch.isdigit():
            kept = kept[:index]
            break
    return kept + "****"
