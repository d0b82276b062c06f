"""复查/复核 routing (grid.review_chain) and the request windows the lifecycle checks, on
real dates (2025 National Day: off Oct 1-8) with real 柞水县 places and the packaged policy."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from importlib import resources

import pytest

from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import HandlingLevel, Kind
from grid.errors import DomainError, InvalidInput
from grid.lifecycle import (
    Action,
    Actor,
    CaseFacts,
    ClockKind,
    Command,
    ReviewHolder,
    Status,
    decide,
    register,
    running_clocks,
)
from grid.policy import parse_policy
from grid.review_chain import NoOrganAbove, Place, contested_level_of_reply, default_organ_name, route

CAL = StatutoryCalendar()
POLICY = parse_policy(resources.files("grid").joinpath("policies/zhashui.toml").read_text(encoding="utf-8"))
DISSATISFACTION = POLICY.dissatisfaction
OFFICER = Actor("u-county", "赵科长")
NUMBER = "611026001001-2025-00042"

QIANYOU = Place("611026001000", "乾佑街道")
YINGPAN = Place("611026101000", "营盘镇")
ZHASHUI = Place("611026000000", "柞水县")
SHANGLUO = Place("611000000000", "商洛市")
SHAANXI = Place("610000000000", "陕西省")
PLACES = {"township": QIANYOU, "county": ZHASHUI, "city": SHANGLUO, "province": SHAANXI}

REPLY = {
    "outcome": "reject",
    "request": "要求补发拖欠的土地流转租金",
    "facts_and_reasons": "经核查，合同约定租金已按期支付",
    "decision": "不予支持",
    "legal_basis": "《信访工作条例》第三十二条第三项",
}


def at(day: str, clock: str = "10:00") -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=CHINA_TZ)


def midnight_after(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), tzinfo=CHINA_TZ)


def step(facts: CaseFacts, action: Action, when: datetime, holder: ReviewHolder | None = None, **data) -> CaseFacts:
    return decide(
        facts, Command(action, None, data, NUMBER, review_holder=holder), now=when, actor=OFFICER, calendar=CAL
    ).facts


def replied(level: HandlingLevel, delivered: datetime) -> CaseFacts:
    facts = register(
        kind=Kind.CLAIM,
        level=level,
        party_ids=("p1",),
        involves_litigation=False,
        administrative_dispute=False,
        now=delivered - timedelta(days=30),
        actor=OFFICER,
    ).facts
    facts = step(facts, Action.ACCEPT, delivered - timedelta(days=30))
    facts = step(facts, Action.START_HANDLING, delivered - timedelta(days=29))
    return step(facts, Action.REPLY, delivered, **REPLY)


# ---------------------------------------------------------------- which organ


@pytest.mark.parametrize(
    ("contested", "organ", "organ_level", "level", "node", "rule"),
    [
        (
            "village",
            "案件所在镇（街道）人民政府（办事处）",
            "township",
            HandlingLevel.TOWNSHIP,
            QIANYOU,
            "dissatisfaction.review.township",
        ),
        ("township", "柞水县人民政府", "county", HandlingLevel.COUNTY, ZHASHUI, "dissatisfaction.review.county"),
        ("county", "商洛市人民政府", "city", HandlingLevel.COUNTY, ZHASHUI, "dissatisfaction.review.above_county"),
    ],
)
def test_should_send_a_review_one_level_above_the_organ_that_replied(contested, organ, organ_level, level, node, rule):
    holder = route("review", contested, PLACES, DISSATISFACTION)
    assert (holder.organ, holder.organ_level, holder.level, holder.rule) == (organ, organ_level, level, rule)
    assert (holder.node_code, holder.node_name) == (node.code, node.name)
    assert holder.stage == "review" and holder.contested_level == contested
    assert "第三十五条" in holder.summary_zh and holder.organ in holder.summary_zh


@pytest.mark.parametrize(
    ("reviewer", "organ", "organ_level", "rule"),
    [
        ("township", "柞水县人民政府", "county", "dissatisfaction.rereview.county"),
        ("county", "商洛市人民政府", "city", "dissatisfaction.rereview.above_county"),
        # The policy format names no organ above a city that reviewed: the law's default.
        ("city", "陕西省人民政府", "province", "law.rereview"),
    ],
)
def test_should_send_a_rereview_one_level_above_the_organ_that_reviewed(reviewer, organ, organ_level, rule):
    holder = route("rereview", reviewer, PLACES, DISSATISFACTION)
    assert (holder.organ, holder.organ_level, holder.rule) == (organ, organ_level, rule)
    assert "第三十六条" in holder.summary_zh


def test_should_keep_an_organ_above_the_county_at_the_county_which_keeps_the_file():
    holder = route("review", "county", PLACES, DISSATISFACTION)
    assert (holder.level, holder.node_code) == (HandlingLevel.COUNTY, ZHASHUI.code)
    assert "案卷由县级保存" in holder.summary_zh


def test_should_name_the_generic_policy_organ_with_its_place():
    holder = route("review", "village", {**PLACES, "township": YINGPAN}, DISSATISFACTION)
    assert "营盘镇" in holder.summary_zh
    assert holder.node_code == YINGPAN.code


@pytest.mark.parametrize(
    ("contested", "organ"),
    [("village", "乾佑街道办事处"), ("township", "柞水县人民政府"), ("county", "商洛市人民政府")],
)
def test_should_name_the_peoples_government_of_the_place_when_the_county_has_no_policy(contested, organ):
    holder = route("review", contested, PLACES, None)
    assert (holder.organ, holder.rule) == (organ, "law.review")


def test_should_name_a_town_government_and_a_street_office_by_their_kind():
    assert default_organ_name("township", YINGPAN) == "营盘镇人民政府"
    assert default_organ_name("township", QIANYOU) == "乾佑街道办事处"
    assert default_organ_name("city", None) == "上一级机关（市级人民政府）"


def test_should_find_nothing_above_a_province():
    with pytest.raises(NoOrganAbove):
        route("rereview", "province", PLACES, DISSATISFACTION)


@pytest.mark.parametrize(
    ("case_level", "replier", "contested"),
    [
        (HandlingLevel.VILLAGE, HandlingLevel.TOWNSHIP, "township"),  # the town replied on a village case
        (HandlingLevel.TOWNSHIP, HandlingLevel.TOWNSHIP, "township"),
        (HandlingLevel.TOWNSHIP, None, "township"),
        (HandlingLevel.COUNTY, HandlingLevel.TOWNSHIP, "county"),
        (HandlingLevel.VILLAGE, HandlingLevel.COUNTY, "county"),
    ],
)
def test_should_take_the_replying_organ_as_the_higher_of_the_case_level_and_the_replier(case_level, replier, contested):
    assert contested_level_of_reply(case_level, replier) == contested


# ---------------------------------------------------------------- the lifecycle records it


def test_should_move_the_case_to_the_organ_and_record_where_it_went_and_why():
    facts = replied(HandlingLevel.VILLAGE, at("2025-06-10"))
    holder = route("review", contested_level_of_reply(facts.level, HandlingLevel.TOWNSHIP), PLACES, DISSATISFACTION)
    decision = decide(
        facts,
        Command(Action.REQUEST_REVIEW, None, {}, review_holder=holder),
        now=at("2025-06-20"),
        actor=OFFICER,
        calendar=CAL,
    )
    new, [entry] = decision.facts, decision.entries
    # The town replied: the review skips past the town straight to the county.
    assert (new.status, new.level, new.review_holder) == (Status.REVIEW_REQUESTED, HandlingLevel.COUNTY, holder)
    assert new.level_entered_at == at("2025-06-20")
    assert entry.data["organ"] == "柞水县人民政府"
    assert entry.data["node_code"] == ZHASHUI.code
    assert entry.data["rule"] == "dissatisfaction.review.county"
    assert entry.data["request_last_day"] == "2025-07-10"
    assert entry.data["decision_last_day"] == "2025-07-21"  # Jul 20 is a Sunday
    assert entry.data["summary_zh"].startswith("信访人不服乾佑街道的信访处理意见，申请复查")
    assert "2025-07-21前作出复查意见" in entry.data["summary_zh"]
    assert CaseFacts.from_json(new.to_json()) == new


def test_should_send_the_rereview_above_the_organ_that_held_the_review():
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-06-10"))
    review = route("review", "township", PLACES, DISSATISFACTION)
    facts = step(facts, Action.REQUEST_REVIEW, at("2025-06-20"), review)
    facts = step(facts, Action.DECIDE_REVIEW, at("2025-07-10"), **REPLY)
    rereview = route("rereview", facts.review_holder.organ_level, PLACES, DISSATISFACTION)
    facts = step(facts, Action.REQUEST_REREVIEW, at("2025-07-15"), rereview)
    assert (facts.rereview_holder.organ, facts.level) == ("商洛市人民政府", HandlingLevel.COUNTY)
    facts = step(facts, Action.DECIDE_REREVIEW, at("2025-08-01"), **REPLY)
    assert facts.status is Status.FINAL


def test_should_refuse_a_holder_for_the_other_stage():
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-06-10"))
    with pytest.raises(ValueError):
        step(facts, Action.REQUEST_REVIEW, at("2025-06-20"), route("rereview", "township", PLACES, DISSATISFACTION))


# ---------------------------------------------------------------- windows


def test_should_refuse_a_late_review_request_naming_the_window_and_its_dates():
    # Delivered Tue Jun 10: the 30 days end Thu Jul 10.
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-06-10", "17:00"))
    with pytest.raises(DomainError) as caught:
        step(facts, Action.REQUEST_REVIEW, at("2025-07-11", "09:00"))
    error = caught.value
    assert error.code == "case.window_closed"
    assert error.data == {
        "window": "review_request",
        "delivered_on": "2025-06-10",
        "last_day": "2025-07-10",
        "received_on": "2025-07-11",
        "provisional": False,
    }
    for text in ("复查", "2025-06-10", "2025-07-10", "2025-07-11", "三十日", "第三十五条"):
        assert text in error.message


def test_should_roll_the_review_window_over_the_national_day_holiday():
    # Delivered Fri Sep 5: day 30 is Sun Oct 5, inside the holiday: the window ends Thu Oct 9.
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-09-05"))
    with pytest.raises(DomainError) as caught:
        step(facts, Action.REQUEST_REVIEW, midnight_after("2025-10-09"))
    assert caught.value.data["last_day"] == "2025-10-09"
    assert step(facts, Action.REQUEST_REVIEW, at("2025-10-09", "23:00")).status is Status.REVIEW_REQUESTED


def test_should_refuse_a_late_rereview_request_naming_article_thirty_six():
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-06-10"))
    facts = step(facts, Action.REQUEST_REVIEW, at("2025-06-20"))
    facts = step(facts, Action.DECIDE_REVIEW, at("2025-08-10"), **REPLY)  # Sun Aug 10 + 30 = Tue Sep 9
    with pytest.raises(DomainError) as caught:
        step(facts, Action.REQUEST_REREVIEW, midnight_after("2025-09-09"))
    assert caught.value.code == "case.window_closed"
    assert caught.value.data["window"] == "rereview_request"
    assert "第三十六条" in caught.value.message and "复查意见" in caught.value.message


def test_should_take_a_request_received_in_time_even_when_it_is_recorded_late():
    # A letter received Jul 9 and entered Jul 14: on time; both clocks count from receipt.
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-06-10"))
    decision = decide(
        facts,
        Command(Action.REQUEST_REVIEW, None, {"received_at": at("2025-07-09").isoformat()}),
        now=at("2025-07-14"),
        actor=OFFICER,
        calendar=CAL,
    )
    new, [entry] = decision.facts, decision.entries
    assert new.review_requested_at == at("2025-07-09")
    assert entry.data["received_at"] == "2025-07-09T10:00:00+08:00"
    assert entry.data["decision_last_day"] == "2025-08-08"
    [clock] = running_clocks(new, CAL)
    assert (clock.kind, clock.started_at) == (ClockKind.REVIEW_DECISION, at("2025-07-09"))


@pytest.mark.parametrize(
    ("received", "rule"),
    [("2025-07-15T10:00:00+08:00", "datetime.future"), ("2025-06-09T10:00:00+08:00", "datetime.before_delivery")],
)
def test_should_refuse_a_receipt_time_in_the_future_or_before_the_reply_was_delivered(received, rule):
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-06-10"))
    with pytest.raises(InvalidInput) as caught:
        step(facts, Action.REQUEST_REVIEW, at("2025-07-14"), received_at=received)
    assert [(issue.field, issue.rule) for issue in caught.value.issues] == [("data.received_at", rule)]


def test_should_not_count_hearing_days_in_the_rereview_decision_period():
    facts = replied(HandlingLevel.TOWNSHIP, at("2025-06-10"))
    facts = step(facts, Action.REQUEST_REVIEW, at("2025-06-20"))
    facts = step(facts, Action.DECIDE_REVIEW, at("2025-08-10"), **REPLY)
    facts = step(facts, Action.REQUEST_REREVIEW, at("2025-09-05"))  # + 30 = Oct 5, in the holiday -> Oct 9
    [clock] = running_clocks(facts, CAL)
    assert clock.due.last_day == date(2025, 10, 9)
    facts = step(facts, Action.RECORD_HEARING, at("2025-09-20"), days=10)  # Oct 15, a Wednesday
    [clock] = running_clocks(facts, CAL)
    assert clock.due.last_day == date(2025, 10, 15)


# ---------------------------------------------------------------- handing a petition down


def registered_at_county() -> CaseFacts:
    return register(
        kind=Kind.CLAIM,
        level=HandlingLevel.COUNTY,
        party_ids=("p1",),
        involves_litigation=False,
        administrative_dispute=False,
        now=at("2025-06-02"),
        actor=OFFICER,
    ).facts


def test_should_hand_a_petition_down_to_a_lower_level_with_a_reason():
    decision = decide(
        registered_at_county(),
        Command(Action.REFER_DOWN, "越级访，属村级化解范围", {"to_level": "village", "organ": "仁和社区居委会"}),
        now=at("2025-06-03"),
        actor=OFFICER,
        calendar=CAL,
    )
    new, [entry] = decision.facts, decision.entries
    assert (new.status, new.level, new.level_entered_at) == (Status.REGISTERED, HandlingLevel.VILLAGE, at("2025-06-03"))
    assert entry.data == {"from_level": "county", "to_level": "village", "organ": "仁和社区居委会"}
    assert entry.reason == "越级访，属村级化解范围"
    # The notice clock still counts from the original receipt (Art. 22).
    [clock] = running_clocks(new, CAL)
    assert (clock.kind, clock.started_at) == (ClockKind.NOTICE, at("2025-06-02"))


def test_should_refuse_to_hand_a_petition_down_without_a_reason_or_upwards():
    facts = registered_at_county()
    with pytest.raises(InvalidInput) as caught:
        step(facts, Action.REFER_DOWN, at("2025-06-03"), to_level="village")
    assert [issue.rule for issue in caught.value.issues] == ["reason.required"]
    with pytest.raises(DomainError) as refused:
        decide(
            facts,
            Command(Action.REFER_DOWN, "理由", {"to_level": "county"}),
            now=at("2025-06-03"),
            actor=OFFICER,
            calendar=CAL,
        )
    assert refused.value.code == "case.invalid_referral_target"
