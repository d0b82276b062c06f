from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grid.errors import Issue
from grid.identity import (
    IdentityRuleError,
    IdNumberStatus,
    Phone,
    PhoneKind,
    ResidentId,
    check_character,
    mask_address,
    mask_id_number,
    mask_phone,
    normalize_phone,
    parse_resident_id,
)

STANDARD_EXAMPLE = "11010519491231002X"  # the worked example in GB 11643


def with_check(first17: str) -> str:
    return first17 + check_character(first17)


def rule_of(raw: str | None, **kwargs: str) -> str:
    with pytest.raises(IdentityRuleError) as caught:
        parse_resident_id(raw, **kwargs)
    return caught.value.rule


# --- check character ---------------------------------------------------------------------


def test_should_compute_the_check_character_of_the_standard_example() -> None:
    assert check_character(STANDARD_EXAMPLE[:17]) == "X"


def test_should_compute_check_characters_by_the_weighted_sum_modulo_11() -> None:
    # Worked by hand: 6*7+1*9+0*10+9*5+2*8+4*4+1*2+9*1+8*6+0*3+0*7+2*9+2*10+9*5+1*8+2*4+3*2
    # = 292; 292 % 11 = 6 -> "10X98765432"[6] = "6".
    assert check_character("61092419800229123") == "6"


def test_should_refuse_to_compute_a_check_character_for_anything_but_17_digits() -> None:
    for bad in ["1101051949123100", "110105194912310021", "1101051949123100A", ""]:
        with pytest.raises(IdentityRuleError) as caught:
            check_character(bad)
        assert caught.value.rule == "id_number.format"


# --- valid 18-digit numbers --------------------------------------------------------------


def test_should_accept_the_standard_example_and_read_birth_date_and_sex() -> None:
    parsed = parse_resident_id(STANDARD_EXAMPLE)
    assert parsed == ResidentId(
        value=STANDARD_EXAMPLE,
        status=IdNumberStatus.VALID,
        birth_date=date(1949, 12, 31),
        sex="female",  # order code 002: even
        unknown_reason=None,
    )


@pytest.mark.parametrize(
    ("first17", "born", "sex"),
    [
        ("61092419930704301", date(1993, 7, 4), "male"),
        ("32010219991231001", date(1999, 12, 31), "male"),
        ("44030620000229004", date(2000, 2, 29), "female"),
        ("35020319000101002", date(1900, 1, 1), "female"),
    ],
)
def test_should_accept_numbers_whose_check_character_matches(first17: str, born: date, sex: str) -> None:
    parsed = parse_resident_id(with_check(first17))
    assert parsed.status is IdNumberStatus.VALID
    assert parsed.value == with_check(first17)
    assert parsed.birth_date == born
    assert parsed.sex == sex


def test_should_accept_a_lower_case_x_and_normalise_it_to_upper_case() -> None:
    assert parse_resident_id("11010519491231002x").value == STANDARD_EXAMPLE


def test_should_strip_spaces_inside_and_around_the_number() -> None:
    assert parse_resident_id(" 110105 19491231 002X ").value == STANDARD_EXAMPLE


def test_should_accept_full_width_digits_typed_with_a_chinese_input_method() -> None:
    assert parse_resident_id("１１０１０５１９４９１２３１００２ｘ").value == STANDARD_EXAMPLE


# --- invalid 18-digit numbers ------------------------------------------------------------


def test_should_reject_an_id_number_whose_check_character_is_wrong() -> None:
    assert rule_of("110105194912310021") == "id_number.checksum"


def test_should_reject_an_id_number_with_one_digit_mistyped() -> None:
    assert rule_of("11010519491231003X") == "id_number.checksum"


def test_should_accept_february_29_in_a_leap_year() -> None:
    assert parse_resident_id(with_check("61092419800229123")).birth_date == date(1980, 2, 29)


def test_should_reject_february_29_in_a_non_leap_year() -> None:
    assert rule_of(with_check("61092419810229123")) == "id_number.birth_date"


def test_should_reject_february_29_1900_because_1900_was_not_a_leap_year() -> None:
    assert rule_of(with_check("61092419000229123")) == "id_number.birth_date"


@pytest.mark.parametrize("birth", ["19801301", "19800431", "19800000", "19800100"])
def test_should_reject_a_birth_date_that_does_not_exist(birth: str) -> None:
    assert rule_of(with_check("610924" + birth + "123")) == "id_number.birth_date"


def test_should_reject_a_birth_date_before_1900() -> None:
    assert rule_of(with_check("61092418991231123")) == "id_number.birth_date"


@pytest.mark.parametrize("raw", ["11010519491231002", "11010519491231002X1", "1101", "1"])
def test_should_reject_a_number_of_the_wrong_length(raw: str) -> None:
    assert rule_of(raw) == "id_number.length"


@pytest.mark.parametrize("raw", ["1101051949123100XX", "11010519491231A02X", "110105-19491231002"])
def test_should_reject_non_digits_in_the_first_17_characters(raw: str) -> None:
    assert rule_of(raw) == "id_number.format"


def test_should_reject_an_address_code_starting_with_zero() -> None:
    assert rule_of(with_check("01010519491231002")) == "id_number.format"


def test_should_give_a_chinese_message_with_each_rule() -> None:
    with pytest.raises(IdentityRuleError) as caught:
        parse_resident_id("110105194912310021")
    assert "校验位" in caught.value.message
    assert str(caught.value) == caught.value.message
    assert isinstance(caught.value, ValueError)


def test_should_turn_a_rule_error_into_an_issue_for_a_named_field() -> None:
    with pytest.raises(IdentityRuleError) as caught:
        parse_resident_id("110105194912310021")
    assert caught.value.issue("parties[0].id_number") == Issue(
        "parties[0].id_number", "id_number.checksum", caught.value.message
    )


# --- legacy 15-digit numbers -------------------------------------------------------------


def test_should_accept_a_legacy_15_digit_number_and_flag_it() -> None:
    parsed = parse_resident_id("110105491231002")
    assert parsed == ResidentId(
        value="110105491231002",
        status=IdNumberStatus.LEGACY_15,
        birth_date=date(1949, 12, 31),
        sex="female",
        unknown_reason=None,
    )


def test_should_read_the_sex_of_a_legacy_number_from_its_last_digit() -> None:
    assert parse_resident_id("610924800229123").sex == "male"


def test_should_reject_a_legacy_number_with_an_impossible_birth_date() -> None:
    assert rule_of("610924810229123") == "id_number.birth_date"


def test_should_reject_a_legacy_number_with_a_non_digit() -> None:
    assert rule_of("61092480022912X") == "id_number.format"


def test_should_reject_a_legacy_number_with_an_address_code_starting_with_zero() -> None:
    assert rule_of("010924800229123") == "id_number.format"


# --- unknown -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_should_accept_an_unknown_number_when_a_reason_is_given(raw: str | None) -> None:
    parsed = parse_resident_id(raw, unknown_reason=" 当事人未带身份证 ")
    assert parsed == ResidentId(
        value=None,
        status=IdNumberStatus.UNKNOWN,
        birth_date=None,
        sex=None,
        unknown_reason="当事人未带身份证",
    )


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_should_reject_an_unknown_number_without_a_reason(reason: str | None) -> None:
    with pytest.raises(IdentityRuleError) as caught:
        parse_resident_id(None, unknown_reason=reason)
    assert caught.value.rule == "id_number.unknown_needs_reason"
    assert caught.value.message == "未提供身份证号时须说明原因"


def test_should_prefer_a_given_number_over_an_unknown_reason() -> None:
    parsed = parse_resident_id(STANDARD_EXAMPLE, unknown_reason="未带证件")
    assert parsed.status is IdNumberStatus.VALID
    assert parsed.unknown_reason is None


def test_should_still_validate_a_given_number_when_a_reason_is_also_given() -> None:
    assert rule_of("110105194912310021", unknown_reason="未带证件") == "id_number.checksum"


# --- properties --------------------------------------------------------------------------

valid_first17 = st.builds(
    lambda area, born, order: f"{area}{born:%Y%m%d}{order:03d}",
    st.integers(min_value=100000, max_value=999999),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    st.integers(min_value=0, max_value=999),
)


@given(valid_first17)
def test_should_accept_any_well_formed_body_followed_by_its_check_character(
    first17: str,
) -> None:
    parsed = parse_resident_id(with_check(first17))
    assert parsed.status is IdNumberStatus.VALID
    assert parsed.birth_date == date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    assert parsed.sex == ("male" if int(first17[16]) % 2 else "female")


@given(valid_first17, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_should_reject_any_number_with_a_single_character_changed(
    first17: str, position: int, replacement: str
) -> None:
    number = with_check(first17)
    if position < 17 and replacement == "X":
        replacement = "0"
    assume(number[position] != replacement)
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(IdentityRuleError) as caught:
        parse_resident_id(changed)
    assert caught.value.rule in {"id_number.format", "id_number.birth_date", "id_number.checksum"}
    if position == 17:
        assert caught.value.rule == "id_number.checksum"


@given(valid_first17, st.integers(min_value=0, max_value=15))
def test_should_reject_any_number_with_two_adjacent_digits_swapped(first17: str, position: int) -> None:
    number = with_check(first17)
    a, b = number[position], number[position + 1]
    assume(a != b)
    swapped = number[:position] + b + a + number[position + 2 :]
    with pytest.raises(IdentityRuleError):
        parse_resident_id(swapped)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
def test_should_accept_every_real_19yy_date_in_a_legacy_number(born: date) -> None:
    parsed = parse_resident_id(f"610924{born:%y%m%d}123")
    assert parsed.status is IdNumberStatus.LEGACY_15
    assert parsed.birth_date == born


def test_should_reject_the_day_after_the_last_day_of_every_month() -> None:
    day = date(1999, 1, 1)
    while day.year == 1999:
        next_day = day + timedelta(days=1)
        if next_day.month != day.month:
            impossible = f"610924{day:%Y%m}{day.day + 1:02d}123"
            assert rule_of(with_check(impossible)) == "id_number.birth_date"
        day = next_day


# --- phones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812341234",
        "+8613812341234",
        "+86 138 1234 1234",
        "0086 13812341234",
        "008613812341234",
        "8613812341234",
        "138-1234-1234",
        "138 1234 1234",
        "(+86) 138-1234-1234",
        "１３８１２３４１２３４",
    ],
)
def test_should_normalise_mobile_numbers(raw: str) -> None:
    assert normalize_phone(raw) == Phone(PhoneKind.MOBILE, "13812341234")


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("0914-4321234", "0914-4321234"),
        ("09144321234", "0914-4321234"),
        ("0914 4321234", "0914-4321234"),
        ("(0914)4321234", "0914-4321234"),
        ("（0914）4321234", "0914-4321234"),
        ("+86 914 4321234", "0914-4321234"),
        ("0086-914-4321234", "0914-4321234"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("02912345678", "029-12345678"),
        ("020-87654321", "020-87654321"),
        ("075587654321", "0755-87654321"),
        ("+86 10 12345678", "010-12345678"),
    ],
)
def test_should_normalise_landline_numbers_splitting_off_the_area_code(raw: str, number: str) -> None:
    assert normalize_phone(raw) == Phone(PhoneKind.LANDLINE, number)


@pytest.mark.parametrize(
    "raw",
    [
        "12345678901",  # mobiles start 13-19
        "0914-123",  # local number too short
        "1381234123",  # 10 digits
        "138123412345",  # 12 digits
        "4321234",  # no area code
        "0914-432123456",  # local number too long
        "+1 2025550123",  # not China
        "138l2341234",  # letter l for digit 1
        "",
        "   ",
    ],
)
def test_should_reject_numbers_that_are_neither_mobile_nor_landline(raw: str) -> None:
    with pytest.raises(IdentityRuleError) as caught:
        normalize_phone(raw)
    assert caught.value.rule == "phone.format"
    assert caught.value.message  # Chinese text for the form


# --- masks -------------------------------------------------------------------------------


def test_should_mask_an_18_digit_id_number_keeping_first_6_and_last_4() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"


def test_should_mask_a_15_digit_id_number_keeping_first_6_and_last_3() -> None:
    assert mask_id_number("110105491231002") == "110105******002"


def test_should_mask_a_malformed_id_number_completely() -> None:
    assert mask_id_number("1101051949") == "**********"
    assert mask_id_number("") == ""


def test_should_mask_a_mobile_number_keeping_first_3_and_last_4() -> None:
    assert mask_phone(Phone(PhoneKind.MOBILE, "13812341234")) == "138****1234"
    assert mask_phone("+86 138 1234 1234") == "138****1234"


def test_should_mask_a_landline_keeping_the_area_code_and_the_last_digits() -> None:
    assert mask_phone("0914-4321234") == "0914-****234"
    assert mask_phone("02912345678") == "029-****5678"


def test_should_mask_an_unparseable_phone_string_keeping_at_most_the_last_4_digits() -> None:
    assert mask_phone("1381234123") == "******4123"
    assert mask_phone("12345") == "*****"


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("陕西省安康市汉滨区五里镇东坝村3组12号", "陕西省安康市汉滨区五里镇****"),
        ("汉滨区关庙乡双桥村二组", "汉滨区关庙乡****"),
        ("西安市雁塔区小寨路街道大雁塔社区5号楼", "西安市雁塔区小寨路街道****"),
        ("东坝村3组", "东坝村****"),
        ("长安社区12栋", "长安社区****"),
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
    ],
)
def test_should_mask_an_address_after_its_administrative_part(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_should_not_reveal_a_house_number_before_a_marker_word() -> None:
    # "村" here is part of a compound name after the house number, not a village.
    assert mask_address("汉滨区建民路12号新村小区") == "汉滨区建民路****"


def test_should_not_reveal_a_short_address_without_a_marker() -> None:
    assert mask_address("幸福小区") == "幸福****"
    assert mask_address("   ") == ""
