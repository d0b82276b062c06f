"""Repeat petitions (grid.repeats): same matter, same petitioner, finality, duplicates, 越级."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from importlib import resources

import pytest

from grid.calendar import CHINA_TZ
from grid.cases import HandlingLevel, Kind, Risk
from grid.identity import parse_resident_id
from grid.lifecycle import Status
from grid.policy import Condition, parse_policy
from grid.repeats import (
    DUPLICATE_THRESHOLD,
    FINAL_THRESHOLD,
    Prior,
    assess,
    conditions_of,
    duplicate_summary,
    entry_level,
    final_message,
    matter_grams,
    normalize_matter,
    resident_id_forms,
    similarity,
    skip_level,
)
from tests.factories import id_number

POLICY = parse_policy(resources.files("grid").joinpath("policies/zhashui.toml").read_text(encoding="utf-8"))


def score(first: tuple[str, str], second: tuple[str, str]) -> float:
    return similarity(matter_grams(*first), matter_grams(*second))


# ---------------------------------------------------------------- same matter

SAME_MATTER = [
    (("邻里排水沟纠纷", "要求对方疏通排水沟"), ("邻里排水沟纠纷", "要求对方尽快疏通排水沟并赔偿损失")),
    (
        ("农民工工资拖欠", "请求督促包工头支付拖欠的工资"),
        ("农民工工资拖欠", "请求督促包工头尽快支付拖欠我的三个月工资"),
    ),
    (("修路占地补偿异议", "请求复核修路占地面积并足额补偿"), ("修路占地补偿", "请求复核修路占地面积，足额补偿")),
    (("养殖场异味污染", "要求养殖场整改粪污处理设施"), ("养殖场污染", "强烈要求养殖场整改粪污处理设施！")),
]
OTHER_MATTER = [
    (("邻里排水沟纠纷", "要求对方疏通排水沟"), ("邻居违建", "要求邻居拆除违章搭建的猪圈")),
    (("宅基地边界纠纷", "请求村委会重新确认两户宅基地界址"), ("宅基地纠纷", "要求对方停止在其宅基地上建房")),
    (("赡养老人费用分担纠纷", "要求兄弟三人按月分担母亲的赡养费用"), ("赡养纠纷", "要求弟弟承担父亲的医药费")),
    (("土地流转合同租金纠纷", "要求合作社按合同支付土地流转租金"), ("合同纠纷", "要求施工队返还多收的预付款")),
]


@pytest.mark.parametrize(("first", "second"), SAME_MATTER)
def test_should_find_the_same_matter_restated_with_more_detail(first, second):
    assert score(first, second) >= FINAL_THRESHOLD >= DUPLICATE_THRESHOLD


@pytest.mark.parametrize(("first", "second"), OTHER_MATTER)
def test_should_tell_apart_other_matters_of_the_same_category(first, second):
    assert score(first, second) < DUPLICATE_THRESHOLD


def test_similarity_is_symmetric_bounded_and_one_for_the_same_statement():
    first, second = SAME_MATTER[0]
    assert score(first, second) == score(second, first)
    assert score(first, first) == 1.0
    assert 0.0 <= score(*OTHER_MATTER[0]) <= 1.0
    assert similarity(frozenset(), frozenset()) == 0.0


def test_should_ignore_width_case_punctuation_and_words_of_asking():
    assert normalize_matter("请求：ＡＢＣ小区　物业 收费！") == normalize_matter("abc小区物业收费") == "abc小区物业收费"
    assert score(("", "要求对方疏通排水沟"), ("", "恳请尽快协调，疏通排水沟！")) == 1.0


def test_should_keep_a_single_character_between_fillers():
    assert "田" in matter_grams("", "要求田")


# ---------------------------------------------------------------- same petitioner


def test_should_give_the_eighteen_digit_twin_of_a_legacy_fifteen_digit_number():
    legacy = "611026800101123"
    modern = id_number("19800101", "123")  # 611026 19 800101 123 + its check character
    assert resident_id_forms(legacy) == (legacy, modern)
    assert resident_id_forms(modern) == (modern, legacy)
    assert parse_resident_id(modern).value == modern


def test_should_give_no_fifteen_digit_twin_to_someone_born_after_1999():
    value = id_number("20010203", "456")
    assert resident_id_forms(value) == (value,)


# ---------------------------------------------------------------- the verdict


def prior(
    similarity_: float,
    *,
    status: Status = Status.IN_HANDLING,
    level: HandlingLevel = HandlingLevel.VILLAGE,
    final_on: date | None = None,
    registered: str = "2026-01-05",
    duplicate_of: uuid.UUID | None = None,
    number: str | None = "611026001001-2026-00001",
) -> Prior:
    return Prior(
        case_id=uuid.uuid4(),
        number=number,
        status=status,
        level=level,
        registered_at=datetime.fromisoformat(f"{registered}T10:00:00").replace(tzinfo=CHINA_TZ),
        basis="id_number",
        similarity=similarity_,
        final_on=final_on,
        duplicate_of=duplicate_of,
    )


def test_should_refuse_a_matter_that_was_re_reviewed_even_after_the_case_was_closed():
    final = prior(0.8, status=Status.CLOSED, final_on=date(2025, 12, 1), level=HandlingLevel.COUNTY)
    verdict = assess([prior(0.9), final], {})
    assert verdict.final == final
    message = final_message(final)
    assert "611026001001-2026-00001" in message and "第三十六条" in message and "2025-12-01" in message


def test_should_only_link_a_final_matter_restated_loosely():
    loose = prior((DUPLICATE_THRESHOLD + FINAL_THRESHOLD) / 2, status=Status.FINAL, final_on=date(2025, 12, 1))
    verdict = assess([loose], {})
    assert verdict.final is None and verdict.original == loose


def test_should_link_to_the_open_case_before_a_closer_closed_one():
    open_case = prior(0.4)
    closed = prior(0.9, status=Status.CLOSED, registered="2025-06-01")
    verdict = assess([closed, open_case], {})
    assert verdict.original == open_case and verdict.original.open


def test_should_link_to_the_first_case_of_the_matter_not_to_an_earlier_duplicate():
    original = prior(0.0, level=HandlingLevel.TOWNSHIP, registered="2025-11-01")
    copy = prior(0.7, duplicate_of=original.case_id)
    verdict = assess([copy], {original.case_id: original})
    assert (verdict.original, verdict.matched) == (original, copy)
    assert verdict.earlier_level is HandlingLevel.TOWNSHIP


def test_should_find_nothing_below_the_duplicate_threshold():
    assert assess([prior(DUPLICATE_THRESHOLD - 0.01)], {}).original is None
    assert assess([], {}).earlier_level is None


def test_should_say_in_chinese_which_case_holds_the_matter_and_to_merge():
    original = prior(0.6, number=None, registered="2026-02-03")
    text = duplicate_summary(original, original)
    assert "2026-02-03登记、尚未受理的案件" in text and "身份证号相同" in text
    assert "请并入原案办理" in text and "第十九条第三款" in text


# ---------------------------------------------------------------- 越级


def test_should_start_a_plain_matter_in_the_village_and_a_collective_one_where_the_policy_sends_it():
    assert entry_level(POLICY, ()) == (HandlingLevel.VILLAGE, "default.village")
    assert entry_level(POLICY, {Condition.COLLECTIVE}) == (HandlingLevel.TOWNSHIP, "risk.collective")
    assert entry_level(POLICY, {Condition.COLLECTIVE, Condition.VIOLENCE_RISK}) == (
        HandlingLevel.COUNTY,
        "risk.violence_risk",
    )
    assert entry_level(None, {Condition.COLLECTIVE}) == (HandlingLevel.VILLAGE, "default.village")


def test_should_read_the_conditions_from_the_cases_flags():
    found = conditions_of(
        risk=Risk.HIGH, is_collective=True, violence_risk=False, cadres_involved=True, multi_village=False
    )
    assert found == {Condition.HIGH_RISK, Condition.COLLECTIVE, Condition.CADRES_INVOLVED}


def test_should_record_a_walk_in_at_the_county_for_a_matter_never_raised_below():
    found = skip_level(
        kind=Kind.CLAIM,
        registered_level=HandlingLevel.COUNTY,
        entry=(HandlingLevel.VILLAGE, "default.village"),
        earlier_level=None,
    )
    assert found is not None
    assert (found.expected_level, found.rule) == (HandlingLevel.VILLAGE, "default.village")
    assert "未经镇级直接到县级提出" in found.summary_zh and "第二十条" in found.summary_zh


@pytest.mark.parametrize(
    ("registered", "entry", "earlier"),
    [
        (HandlingLevel.TOWNSHIP, HandlingLevel.VILLAGE, None),  # one level up is in procedure
        (HandlingLevel.COUNTY, HandlingLevel.TOWNSHIP, None),  # a collective case: the county is one up
        (HandlingLevel.COUNTY, HandlingLevel.VILLAGE, HandlingLevel.TOWNSHIP),  # the town already had it
        (HandlingLevel.VILLAGE, HandlingLevel.VILLAGE, None),
    ],
)
def test_should_not_call_a_petition_one_level_up_from_where_its_matter_stands_skip_level(registered, entry, earlier):
    assert skip_level(kind=Kind.CLAIM, registered_level=registered, entry=(entry, "r"), earlier_level=earlier) is None


def test_should_record_skipping_the_town_after_the_village_had_the_matter():
    found = skip_level(
        kind=Kind.CIVIL_DISPUTE,
        registered_level=HandlingLevel.COUNTY,
        entry=(HandlingLevel.VILLAGE, "default.village"),
        earlier_level=HandlingLevel.VILLAGE,
    )
    assert found is not None and found.expected_level is HandlingLevel.VILLAGE


def test_should_never_call_an_accusation_skip_level():
    assert (
        skip_level(
            kind=Kind.ACCUSATION,
            registered_level=HandlingLevel.COUNTY,
            entry=(HandlingLevel.VILLAGE, "default.village"),
            earlier_level=None,
        )
        is None
    )
