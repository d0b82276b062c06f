"""The case state machine (grid.lifecycle) on real 2025 dates with the official calendar.

2025 National Day + Mid-Autumn: off Oct 1-8, make-up working days Sun Sep 28 and Sat
Oct 11. Every instant is China time; no test reads the real clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import HandlingLevel, Kind
from grid.errors import DomainError, InvalidInput
from grid.lifecycle import (
    ALLOWED_FROM,
    PETITION_KINDS,
    REASON_REQUIRED,
    Action,
    Actor,
    CaseFacts,
    ClockKind,
    Command,
    Escalation,
    Evaluation,
    InvalidTransition,
    Outcome,
    Route,
    Status,
    TimelineEntry,
    allowed_actions,
    decide,
    next_clock,
    register,
    running_clocks,
)

CAL = StatutoryCalendar()

GRID_WORKER = Actor("u-grid", "王网格")
TOWN_OFFICER = Actor("u-town", "李干事")
COUNTY_OFFICER = Actor("u-county", "赵科长")
MEDIATOR = Actor("u-med", "陈调解员")

NUMBER = "611026001001-2025-00042"


def at(day: str, clock: str = "10:00") -> datetime:
    """An instant in China time."""
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=CHINA_TZ)


def end_of(day: str) -> datetime:
    """The last microsecond of a day in China: still inside a period ending that day."""
    return datetime.combine(date.fromisoformat(day), time.max, tzinfo=CHINA_TZ)


def midnight_after(day: str) -> datetime:
    """24:00 of a day: the first instant after a period ending that day (民法典 Art. 203)."""
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), tzinfo=CHINA_TZ)


REPLY = {
    "outcome": "support",
    "request": "要求村委会修复被冲毁的灌溉水渠",
    "facts_and_reasons": "经现场核查，水渠确于汛期被冲毁，属村集体维护范围",
    "decision": "由村委会于三十日内组织修复",
    "legal_basis": "《信访工作条例》第三十二条第一项",
}


# ---------------------------------------------------------------- a case told as a story


@dataclass
class Story:
    """One case: its facts and its timeline, advanced command by command."""

    facts: CaseFacts
    timeline: list[TimelineEntry] = field(default_factory=list)

    def do(
        self,
        action: Action,
        when: datetime,
        /,
        *,
        reason: str | None = None,
        actor: Actor = TOWN_OFFICER,
        number: str | None = None,
        **data: Any,
    ) -> TimelineEntry:
        decision = decide(
            self.facts,
            Command(action, reason, data, assigned_number=number),
            now=when,
            actor=actor,
            calendar=CAL,
        )
        assert len(decision.entries) == 1
        self.facts = decision.facts
        self.timeline.extend(decision.entries)
        return decision.entries[0]

    def refused(self, action: Action, when: datetime, /, **kwargs: Any) -> DomainError:
        """Run a command that must be refused; the facts must not move."""
        before = self.facts
        with pytest.raises(DomainError) as caught:
            self.do(action, when, **kwargs)
        assert self.facts == before
        return caught.value


def new_case(
    kind: Kind = Kind.CLAIM,
    *,
    level: HandlingLevel = HandlingLevel.VILLAGE,
    parties: tuple[str, ...] = ("p1",),
    litigation: bool = False,
    administrative: bool = False,
    when: datetime | None = None,
) -> Story:
    decision = register(
        kind=kind,
        level=level,
        party_ids=parties,
        involves_litigation=litigation,
        administrative_dispute=administrative,
        now=when or at("2025-07-01", "09:00"),
        actor=GRID_WORKER,
    )
    return Story(decision.facts, list(decision.entries))


def accepted(kind: Kind = Kind.CLAIM, **kwargs: Any) -> Story:
    story = new_case(kind, **kwargs)
    story.do(Action.ACCEPT, at("2025-07-01", "10:00"), number=NUMBER)
    return story


def civil_accepted(**kwargs: Any) -> Story:
    kwargs.setdefault("parties", ("p1", "p2"))
    return accepted(Kind.CIVIL_DISPUTE, **kwargs)


def in_mediation() -> Story:
    story = civil_accepted()
    story.do(
        Action.START_MEDIATION,
        at("2025-07-02"),
        actor=MEDIATOR,
        consenting_party_ids=["p1", "p2"],
        informed_of_rights=True,
    )
    return story


def agreement_pending() -> Story:
    story = in_mediation()
    story.do(
        Action.REACH_AGREEMENT,
        at("2025-07-05"),
        actor=MEDIATOR,
        form="written",
        content="张三于八月底前拆除越界围墙",
        creates_obligations=True,
    )
    return story


def agreement_effective() -> Story:
    story = agreement_pending()
    story.do(
        Action.SIGN_AGREEMENT,
        at("2025-07-06"),
        actor=MEDIATOR,
        party_ids=["p1", "p2"],
        mediator_signed=True,
        committee_sealed=True,
    )
    return story


def in_handling(kind: Kind = Kind.CLAIM) -> Story:
    story = accepted(kind)
    story.do(Action.START_HANDLING, at("2025-07-02"))
    return story


def replied() -> Story:
    story = in_handling()
    story.do(Action.REPLY, at("2025-07-20"), **REPLY)
    return story


def review_requested() -> Story:
    story = replied()
    story.do(Action.REQUEST_REVIEW, at("2025-07-25"))
    return story


def reviewed() -> Story:
    story = review_requested()
    story.do(Action.DECIDE_REVIEW, at("2025-08-10"), actor=TOWN_OFFICER, **REPLY)
    return story


def rereview_requested() -> Story:
    story = reviewed()
    story.do(Action.REQUEST_REREVIEW, at("2025-08-15"))
    return story


def final() -> Story:
    story = rereview_requested()
    story.do(Action.DECIDE_REREVIEW, at("2025-09-01"), actor=COUNTY_OFFICER, **REPLY)
    return story


def _then(base: Any, action: Action, when: str, **kwargs: Any) -> Any:
    def build() -> Story:
        story = base()
        story.do(action, at(when), **kwargs)
        return story

    return build


# A representative case for every status, each reached through the state machine itself.
REACH: dict[Status, Any] = {
    Status.REGISTERED: new_case,
    Status.NOT_ACCEPTED: _then(new_case, Action.DECLINE, "2025-07-02", reason="不属于信访事项"),
    Status.ACCEPTED: accepted,
    Status.ROUTED_OUT: _then(
        accepted, Action.ROUTE, "2025-07-02", route="arbitration", organ="县劳动人事争议仲裁委员会"
    ),
    Status.ESCALATED: _then(new_case, Action.ESCALATE, "2025-07-02", reason="涉及多个村"),
    Status.IN_MEDIATION: in_mediation,
    Status.MEDIATION_REFUSED: _then(
        civil_accepted, Action.REFUSE_MEDIATION, "2025-07-02", reason="明确拒绝调解", party_id="p2"
    ),
    Status.MEDIATION_FAILED: _then(
        in_mediation, Action.FAIL_MEDIATION, "2025-07-10", reason="分歧过大", routes_told=["litigation"]
    ),
    Status.AGREEMENT_PENDING: agreement_pending,
    Status.AGREEMENT_EFFECTIVE: agreement_effective,
    Status.IN_HANDLING: in_handling,
    Status.REPLIED: replied,
    Status.REVIEW_REQUESTED: review_requested,
    Status.REVIEWED: reviewed,
    Status.REREVIEW_REQUESTED: rereview_requested,
    Status.FINAL: final,
    Status.CLOSED: _then(final, Action.CLOSE, "2025-09-02", resolution="复核终结"),
}


def test_every_status_has_a_representative_case_that_really_is_in_that_status():
    assert set(REACH) == set(Status)
    for status, build in REACH.items():
        assert build().facts.status is status


# ---------------------------------------------------------------- registration


def test_should_register_a_case_with_a_first_timeline_entry_and_no_number():
    story = new_case(parties=("p1", "p2"))
    facts = story.facts
    assert facts.status is Status.REGISTERED
    assert facts.level is HandlingLevel.VILLAGE
    assert facts.registered_at == at("2025-07-01", "09:00")
    assert facts.number is None and facts.accepted_at is None
    assert facts.party_ids == ("p1", "p2")
    [entry] = story.timeline
    assert entry.kind == "register"
    assert entry.from_status is None and entry.to_status is Status.REGISTERED
    assert (entry.actor_id, entry.actor_name) == ("u-grid", "王网格")
    assert entry.data == {"level": "village"}


def test_should_refuse_to_register_a_case_twice():
    story = new_case()
    error = story.refused(Action.REGISTER, at("2025-07-02"))
    assert isinstance(error, InvalidTransition)
    assert error.code == "case.invalid_transition"


def test_should_refuse_to_accept_an_unnumbered_case_without_an_assigned_number():
    # A programming error of the caller (the number is drawn from a DB counter), not user input.
    with pytest.raises(ValueError, match="assigned_number"):
        new_case().do(Action.ACCEPT, at("2025-07-01", "10:00"))


def test_should_decline_with_a_basis_and_then_allow_closing():
    story = new_case()
    entry = story.do(Action.DECLINE, at("2025-07-02"), reason="  已经法院判决  ", basis="《信访工作条例》第三十一条")
    assert story.facts.status is Status.NOT_ACCEPTED
    assert entry.reason == "已经法院判决"  # stripped
    assert entry.data == {"basis": "《信访工作条例》第三十一条"}
    story.do(Action.CLOSE, at("2025-07-03"))
    assert story.facts.status is Status.CLOSED
    assert story.facts.closed_at == at("2025-07-03")


# ---------------------------------------------------------------- the petition path end to end


def test_should_carry_a_claim_from_registration_through_review_and_rereview_to_closing():
    story = new_case(Kind.CLAIM, when=at("2025-07-01", "08:30"))

    entry = story.do(Action.ACCEPT, at("2025-07-01", "09:00"), number=NUMBER, actor=GRID_WORKER)
    assert (entry.kind, entry.from_status, entry.to_status) == ("accept", Status.REGISTERED, Status.ACCEPTED)
    assert entry.data == {"number": NUMBER, "taking_over": False, "level": "village"}
    assert story.facts.number == NUMBER
    assert story.facts.accepted_at == at("2025-07-01", "09:00")

    entry = story.do(Action.START_HANDLING, at("2025-07-02"))
    assert (entry.from_status, entry.to_status) == (Status.ACCEPTED, Status.IN_HANDLING)
    # 60 days from Jul 1 is Sat Aug 30 -> Mon Sep 1.
    assert entry.data == {"due_last_day": "2025-09-01", "provisional": False}
    assert story.facts.handling_started_at == at("2025-07-02")

    entry = story.do(
        Action.EXTEND,
        at("2025-08-25"),
        reason="需会同水利站现场勘验",
        days=30,
        approved_by="张镇长",
    )
    assert (entry.kind, entry.from_status, entry.to_status) == ("extend", Status.IN_HANDLING, Status.IN_HANDLING)
    assert entry.reason == "需会同水利站现场勘验"
    # 90 days from Jul 1 (one period from acceptance): Mon Sep 29.
    assert entry.data == {
        "days": 30,
        "approved_by": "张镇长",
        "due_last_day": "2025-09-29",
        "provisional": False,
    }
    assert (story.facts.extension_days, story.facts.extension_approved_by) == (30, "张镇长")

    entry = story.do(
        Action.REPLY,
        at("2025-09-06"),
        **REPLY | {"outcome": "explain", "delivered_at": at("2025-09-05", "16:00").isoformat()},
    )
    assert (entry.kind, entry.from_status, entry.to_status) == ("reply", Status.IN_HANDLING, Status.REPLIED)
    assert entry.data == REPLY | {
        "outcome": "explain",
        "delivered_at": "2025-09-05T16:00:00+08:00",
        # Sep 5 + 30 = Oct 5, inside the National Day holiday -> Thu Oct 9.
        "review_window_last_day": "2025-10-09",
    }
    assert story.facts.reply_outcome is Outcome.EXPLAIN
    assert story.facts.replied_at == at("2025-09-06")
    assert story.facts.reply_delivered_at == at("2025-09-05", "16:00")

    entry = story.do(Action.EVALUATE, at("2025-09-07"), evaluation="dissatisfied")
    assert (entry.from_status, entry.to_status) == (Status.REPLIED, Status.REPLIED)
    assert entry.data == {"evaluation": "dissatisfied"}
    assert story.facts.evaluation is Evaluation.DISSATISFIED

    entry = story.do(Action.REQUEST_REVIEW, at("2025-10-09", "15:00"))
    assert (entry.from_status, entry.to_status) == (Status.REPLIED, Status.REVIEW_REQUESTED)
    assert entry.data == {"to_level": "township", "decision_last_day": "2025-11-10"}
    assert story.facts.level is HandlingLevel.TOWNSHIP
    assert story.facts.review_requested_at == at("2025-10-09", "15:00")

    entry = story.do(Action.DECIDE_REVIEW, at("2025-10-20"), **REPLY | {"outcome": "reject"})
    assert (entry.from_status, entry.to_status) == (Status.REVIEW_REQUESTED, Status.REVIEWED)
    assert entry.data["rereview_window_last_day"] == "2025-11-19"
    assert entry.data["outcome"] == "reject"
    assert story.facts.review_outcome is Outcome.REJECT
    assert story.facts.review_delivered_at == at("2025-10-20")
    assert story.facts.evaluation is None  # the old evaluation was of the first reply

    entry = story.do(Action.REQUEST_REREVIEW, at("2025-11-10"), actor=COUNTY_OFFICER)
    assert (entry.from_status, entry.to_status) == (Status.REVIEWED, Status.REREVIEW_REQUESTED)
    assert entry.data == {"to_level": "county", "decision_last_day": "2025-12-10"}
    assert story.facts.level is HandlingLevel.COUNTY
    assert (entry.actor_id, entry.actor_name) == ("u-county", "赵科长")

    entry = story.do(Action.RECORD_HEARING, at("2025-11-20"), actor=COUNTY_OFFICER, days=7)
    assert (entry.from_status, entry.to_status) == (Status.REREVIEW_REQUESTED, Status.REREVIEW_REQUESTED)
    assert entry.data == {"days": 7, "decision_last_day": "2025-12-17"}
    assert story.facts.hearing_days == 7

    entry = story.do(Action.DECIDE_REREVIEW, at("2025-12-15"), actor=COUNTY_OFFICER, **REPLY)
    assert (entry.from_status, entry.to_status) == (Status.REREVIEW_REQUESTED, Status.FINAL)
    assert "rereview_window_last_day" not in entry.data  # nothing comes after 复核
    assert story.facts.rereview_outcome is Outcome.SUPPORT

    entry = story.do(Action.CLOSE, at("2025-12-16"), actor=COUNTY_OFFICER, resolution="复核终结")
    assert (entry.from_status, entry.to_status) == (Status.FINAL, Status.CLOSED)
    assert entry.data == {"resolution": "复核终结"}
    assert story.facts.closed_at == at("2025-12-16")

    kinds = [entry.kind for entry in story.timeline]
    assert kinds == [
        "register",
        "accept",
        "start_handling",
        "extend",
        "reply",
        "evaluate",
        "request_review",
        "decide_review",
        "request_rereview",
        "record_hearing",
        "decide_rereview",
        "close",
    ]
    for before, after in zip(story.timeline, story.timeline[1:], strict=False):
        assert after.from_status is before.to_status
        assert after.at >= before.at
    assert story.facts.number == NUMBER  # never renumbered


def test_should_keep_the_level_at_county_when_a_county_case_asks_for_review():
    story = new_case(level=HandlingLevel.COUNTY)
    story.do(Action.ACCEPT, at("2025-07-01", "10:00"), number=NUMBER)
    story.do(Action.START_HANDLING, at("2025-07-02"))
    story.do(Action.REPLY, at("2025-07-20"), **REPLY)
    entry = story.do(Action.REQUEST_REVIEW, at("2025-07-21"))
    assert story.facts.level is HandlingLevel.COUNTY
    assert entry.data["to_level"] == "county"


def test_should_close_a_replied_case_early_when_the_petitioner_is_satisfied():
    story = replied()
    story.do(Action.EVALUATE, at("2025-07-21"), evaluation="satisfied")
    story.do(Action.CLOSE, at("2025-07-22"), resolution="诉求已解决")
    assert story.facts.status is Status.CLOSED


def test_should_close_a_final_case_without_any_window():
    story = final()
    story.do(Action.CLOSE, at("2025-09-01", "11:00"))
    assert story.facts.status is Status.CLOSED


def test_should_record_the_delivery_time_of_the_reply_as_now_when_none_is_given():
    story = in_handling()
    entry = story.do(Action.REPLY, at("2025-07-20", "14:00"), **REPLY)
    assert story.facts.reply_delivered_at == at("2025-07-20", "14:00")
    assert entry.data["delivered_at"] == "2025-07-20T14:00:00+08:00"
    assert entry.data["review_window_last_day"] == "2025-08-19"


# ---------------------------------------------------------------- extension


def test_should_refuse_a_second_extension_with_case_extension_used():
    story = in_handling()
    story.do(Action.EXTEND, at("2025-08-01"), reason="需补充调查", days=10, approved_by="张镇长")
    error = story.refused(Action.EXTEND, at("2025-08-02"), reason="还需时间", days=5, approved_by="张镇长")
    assert error.code == "case.extension_used"


def test_should_refuse_an_extension_once_the_sixty_days_have_run_out():
    story = in_handling()  # accepted Jul 1: the 60 days end Mon Sep 1 at 24:00
    assert (
        story.refused(Action.EXTEND, midnight_after("2025-09-01"), reason="来不及", days=30, approved_by="张镇长").code
        == "case.window_closed"
    )
    story.do(Action.EXTEND, end_of("2025-09-01"), reason="来得及", days=30, approved_by="张镇长")
    assert story.facts.extension_days == 30


@pytest.mark.parametrize("days", [0, 31, -1])
def test_should_refuse_an_extension_outside_one_to_thirty_days(days: int):
    story = in_handling()
    error = story.refused(Action.EXTEND, at("2025-08-01"), reason="需补充调查", days=days, approved_by="张镇长")
    assert isinstance(error, InvalidInput)
    assert [issue.field for issue in error.issues] == ["data.days"]


def test_should_refuse_an_extension_without_the_approving_head():
    story = in_handling()
    error = story.refused(Action.EXTEND, at("2025-08-01"), reason="需补充调查", days=30, approved_by=" ")
    assert isinstance(error, InvalidInput)
    assert [issue.field for issue in error.issues] == ["data.approved_by"]


def test_should_count_the_extension_from_acceptance_not_from_the_rolled_over_end():
    story = in_handling()
    entry = story.do(Action.EXTEND, at("2025-08-01"), reason="需补充调查", days=10, approved_by="张镇长")
    # One period of 70 days from Jul 1: Tue Sep 9 (not the rolled-over Sep 1 + 10 = Sep 11).
    assert entry.data["due_last_day"] == "2025-09-09"


# ---------------------------------------------------------------- people's mediation


def test_should_refuse_to_start_mediation_without_every_partys_consent():
    story = civil_accepted()
    error = story.refused(
        Action.START_MEDIATION, at("2025-07-02"), consenting_party_ids=["p1"], informed_of_rights=True
    )
    assert error.code == "case.consent_missing"


def test_should_refuse_to_start_mediation_before_the_parties_are_informed_of_their_rights():
    story = civil_accepted()
    error = story.refused(
        Action.START_MEDIATION,
        at("2025-07-02"),
        consenting_party_ids=["p1", "p2"],
        informed_of_rights=False,
    )
    assert isinstance(error, InvalidInput)
    assert [issue.field for issue in error.issues] == ["data.informed_of_rights"]
    missing = story.refused(Action.START_MEDIATION, at("2025-07-02"), consenting_party_ids=["p1", "p2"])
    assert isinstance(missing, InvalidInput)
    assert [issue.field for issue in missing.issues] == ["data.informed_of_rights"]


def test_should_start_mediation_with_every_partys_consent_and_a_one_month_target():
    story = civil_accepted()
    entry = story.do(
        Action.START_MEDIATION,
        at("2025-07-02"),
        actor=MEDIATOR,
        consenting_party_ids=["p2", "p1"],
        informed_of_rights=True,
    )
    assert (entry.from_status, entry.to_status) == (Status.ACCEPTED, Status.IN_MEDIATION)
    assert entry.data == {"consenting_party_ids": ["p2", "p1"], "target_last_day": "2025-08-04"}
    assert story.facts.mediation_started_at == at("2025-07-02")


def test_should_record_a_mediation_session_without_changing_the_status():
    story = in_mediation()
    entry = story.do(
        Action.RECORD_SESSION,
        at("2025-07-03"),
        actor=MEDIATOR,
        summary="双方陈述意见",
        place="村调委会",
        participants=["p1", "p2"],
    )
    assert (entry.kind, entry.from_status, entry.to_status) == (
        "record_session",
        Status.IN_MEDIATION,
        Status.IN_MEDIATION,
    )
    assert entry.data == {
        "summary": "双方陈述意见",
        "place": "村调委会",
        "participants": ["p1", "p2"],
        "violence_risk": False,
    }
    assert (entry.actor_id, entry.actor_name) == ("u-med", "陈调解员")


@pytest.mark.parametrize("source", [civil_accepted, in_mediation])
def test_should_let_a_party_refuse_or_end_mediation_with_a_reason(source):
    story = source()
    entry = story.do(Action.REFUSE_MEDIATION, at("2025-07-04"), reason="不愿调解", party_id="p2")
    assert story.facts.status is Status.MEDIATION_REFUSED
    assert entry.data == {"party_id": "p2"}
    assert entry.reason == "不愿调解"


def test_should_refuse_a_mediation_refusal_by_someone_who_is_not_a_party():
    error = civil_accepted().refused(Action.REFUSE_MEDIATION, at("2025-07-04"), reason="不愿调解", party_id="stranger")
    assert isinstance(error, InvalidInput)
    assert [(issue.field, issue.rule) for issue in error.issues] == [("data.party_id", "party.unknown")]


def test_should_fail_mediation_only_after_telling_the_parties_their_other_routes():
    story = in_mediation()
    error = story.refused(Action.FAIL_MEDIATION, at("2025-07-10"), reason="分歧过大", routes_told=[])
    assert isinstance(error, InvalidInput)
    assert [issue.field for issue in error.issues] == ["data.routes_told"]
    error = story.refused(Action.FAIL_MEDIATION, at("2025-07-10"), reason="分歧过大", routes_told=["prayer"])
    assert isinstance(error, InvalidInput)
    assert error.issues[0].field.startswith("data.routes_told")
    entry = story.do(
        Action.FAIL_MEDIATION, at("2025-07-10"), reason="分歧过大", routes_told=["litigation", "arbitration"]
    )
    assert (entry.from_status, entry.to_status) == (Status.IN_MEDIATION, Status.MEDIATION_FAILED)
    assert entry.data == {"routes_told": ["litigation", "arbitration"]}


def test_should_make_an_oral_agreement_effective_the_day_it_is_reached():
    story = in_mediation()
    entry = story.do(Action.REACH_AGREEMENT, at("2025-07-05", "16:00"), actor=MEDIATOR, form="oral", content="互相道歉")
    assert (entry.from_status, entry.to_status) == (Status.IN_MEDIATION, Status.AGREEMENT_EFFECTIVE)
    assert story.facts.agreement_form == "oral"
    assert story.facts.agreement_reached_at == at("2025-07-05", "16:00")
    assert story.facts.agreement_effective_at == at("2025-07-05", "16:00")
    assert entry.data["form"] == "oral" and entry.data["content"] == "互相道歉"
    assert running_clocks(story.facts, CAL) == []  # no judicial confirmation for oral


@pytest.mark.parametrize("flag", ["creates_obligations", "party_requests_written"])
def test_should_refuse_an_oral_agreement_that_must_be_written(flag: str):
    error = in_mediation().refused(
        Action.REACH_AGREEMENT, at("2025-07-05"), form="oral", content="赔偿医药费800元", **{flag: True}
    )
    assert error.code == "case.written_agreement_required"


def test_should_keep_a_written_agreement_pending_until_every_party_the_mediator_and_the_seal():
    story = in_mediation()
    entry = story.do(
        Action.REACH_AGREEMENT,
        at("2025-07-05"),
        form="written",
        content="张三赔偿李四医药费800元",
        creates_obligations=True,
        performance_manner="现金",
        performance_place="村委会",
        performance_deadline="2025年7月31日前",
    )
    assert (entry.from_status, entry.to_status) == (Status.IN_MEDIATION, Status.AGREEMENT_PENDING)
    assert story.facts.agreement_effective_at is None

    entry = story.do(Action.SIGN_AGREEMENT, at("2025-07-05", "17:00"), party_ids=["p1"], mediator_signed=True)
    assert story.facts.status is Status.AGREEMENT_PENDING
    assert entry.data == {"party_ids": ["p1"], "mediator_signed": True, "committee_sealed": False, "effective": False}
    story.do(Action.SIGN_AGREEMENT, at("2025-07-06"), party_ids=["p2"])
    assert story.facts.status is Status.AGREEMENT_PENDING  # no seal yet
    assert story.facts.signed_party_ids == ("p1", "p2")
    entry = story.do(Action.SIGN_AGREEMENT, at("2025-07-07"), committee_sealed=True)
    assert (entry.from_status, entry.to_status) == (Status.AGREEMENT_PENDING, Status.AGREEMENT_EFFECTIVE)
    assert entry.data["effective"] is True
    assert story.facts.agreement_effective_at == at("2025-07-07")
    assert story.facts.mediator_signed and story.facts.committee_sealed


def test_should_keep_a_written_agreement_pending_while_one_party_has_not_signed():
    story = agreement_pending()
    story.do(Action.SIGN_AGREEMENT, at("2025-07-06"), party_ids=["p1"], mediator_signed=True, committee_sealed=True)
    assert story.facts.status is Status.AGREEMENT_PENDING
    story.do(Action.SIGN_AGREEMENT, at("2025-07-06", "11:00"), party_ids=["p1"])  # signing twice counts once
    assert story.facts.status is Status.AGREEMENT_PENDING
    assert story.facts.signed_party_ids == ("p1",)


def test_should_refuse_a_signature_by_someone_who_is_not_a_party():
    error = agreement_pending().refused(Action.SIGN_AGREEMENT, at("2025-07-06"), party_ids=["p1", "x"])
    assert isinstance(error, InvalidInput)
    assert [(issue.field, issue.rule) for issue in error.issues] == [("data.party_ids", "party.unknown")]


def test_should_accept_judicial_confirmation_on_day_thirty_rolled_over_and_refuse_it_after():
    # Effective Jul 6 (Sun): + 30 = Tue Aug 5.
    story = agreement_effective()
    assert (
        story.refused(Action.REQUEST_JUDICIAL_CONFIRMATION, midnight_after("2025-08-05")).code == "case.window_closed"
    )
    entry = story.do(Action.REQUEST_JUDICIAL_CONFIRMATION, end_of("2025-08-05"))
    assert (entry.from_status, entry.to_status) == (Status.AGREEMENT_EFFECTIVE, Status.AGREEMENT_EFFECTIVE)
    assert story.facts.judicial_confirmation_requested_at == end_of("2025-08-05")


def test_should_roll_the_judicial_confirmation_window_over_a_weekend():
    story = in_mediation()
    story.do(Action.REACH_AGREEMENT, at("2025-06-12"), form="written", content="返还借款")
    story.do(
        Action.SIGN_AGREEMENT, at("2025-06-12"), party_ids=["p1", "p2"], mediator_signed=True, committee_sealed=True
    )
    # Jun 12 + 30 = Sat Jul 12 -> Mon Jul 14.
    [clock] = running_clocks(story.facts, CAL)
    assert clock.kind is ClockKind.JUDICIAL_CONFIRMATION
    assert clock.due.last_day == date(2025, 7, 14)
    story.do(Action.REQUEST_JUDICIAL_CONFIRMATION, end_of("2025-07-14"))
    assert running_clocks(story.facts, CAL) == []


def test_should_refuse_judicial_confirmation_of_an_oral_agreement():
    story = in_mediation()
    story.do(Action.REACH_AGREEMENT, at("2025-07-05"), form="oral", content="互相道歉")
    assert story.refused(Action.REQUEST_JUDICIAL_CONFIRMATION, at("2025-07-06")).code == (
        "case.written_agreement_required"
    )


def test_should_refuse_to_close_an_agreement_until_performance_is_confirmed():
    story = agreement_effective()
    assert story.refused(Action.CLOSE, at("2025-07-10")).code == "case.performance_unconfirmed"
    entry = story.do(Action.FOLLOW_UP, at("2025-07-20"), actor=MEDIATOR, summary="回访：正在履行")
    assert (entry.from_status, entry.to_status) == (Status.AGREEMENT_EFFECTIVE, Status.AGREEMENT_EFFECTIVE)
    assert story.refused(Action.CLOSE, at("2025-07-21")).code == "case.performance_unconfirmed"
    story.do(Action.CONFIRM_PERFORMANCE, at("2025-08-01"), actor=MEDIATOR, summary="围墙已拆除")
    assert story.facts.performance == "performed"
    story.do(Action.EVALUATE, at("2025-08-01", "11:00"), evaluation="satisfied")
    entry = story.do(Action.CLOSE, at("2025-08-02"), resolution="协议履行完毕")
    assert (entry.from_status, entry.to_status) == (Status.AGREEMENT_EFFECTIVE, Status.CLOSED)


def test_should_reopen_as_failed_mediation_when_the_agreement_is_not_performed():
    story = agreement_effective()
    assert story.refused(Action.REPORT_NONPERFORMANCE, at("2025-08-01"), summary="未拆除").code == ("validation.failed")
    entry = story.do(Action.REPORT_NONPERFORMANCE, at("2025-08-01"), reason="逾期未履行", summary="未拆除")
    assert (entry.from_status, entry.to_status) == (Status.AGREEMENT_EFFECTIVE, Status.MEDIATION_FAILED)
    assert story.facts.performance == "not_performed"
    # A failed mediation may go on: to handling, to a new mediation, or up a level.
    assert {Action.START_HANDLING, Action.START_MEDIATION, Action.ESCALATE, Action.CLOSE} <= set(
        allowed_actions(story.facts)
    )


def test_should_start_a_new_agreement_with_a_clean_slate_after_nonperformance():
    story = agreement_effective()
    story.do(Action.REQUEST_JUDICIAL_CONFIRMATION, at("2025-07-07"))
    story.do(Action.REPORT_NONPERFORMANCE, at("2025-08-01"), reason="逾期未履行", summary="未拆除")
    story.do(Action.START_MEDIATION, at("2025-08-02"), consenting_party_ids=["p1", "p2"], informed_of_rights=True)
    story.do(Action.REACH_AGREEMENT, at("2025-08-05"), form="written", content="重新约定九月底前拆除")
    assert story.facts.agreement_effective_at is None
    assert story.facts.signed_party_ids == ()
    assert story.facts.performance is None
    assert story.facts.judicial_confirmation_requested_at is None
    story.do(
        Action.SIGN_AGREEMENT, at("2025-08-06"), party_ids=["p1", "p2"], mediator_signed=True, committee_sealed=True
    )
    # The new agreement has its own 30 days for judicial confirmation.
    [clock] = running_clocks(story.facts, CAL)
    assert clock.kind is ClockKind.JUDICIAL_CONFIRMATION
    assert clock.started_at == at("2025-08-06")
    assert story.refused(Action.CLOSE, at("2025-08-07")).code == "case.performance_unconfirmed"


def test_should_allow_mediation_during_petition_handling():
    story = in_handling()
    story.do(Action.START_MEDIATION, at("2025-07-05"), consenting_party_ids=["p1"], informed_of_rights=True)
    assert story.facts.status is Status.IN_MEDIATION
    assert story.facts.handling_started_at == at("2025-07-02")


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({"litigation": True}, Kind.CIVIL_DISPUTE),
        ({"administrative": True}, Kind.CLAIM),
        ({}, Kind.ACCUSATION),
    ],
    ids=["involves_litigation", "administrative_dispute", "accusation"],
)
def test_should_refuse_people_s_mediation_where_it_does_not_apply(kwargs: dict[str, Any], kind: Kind):
    story = accepted(kind, parties=("p1", "p2"), **kwargs)
    error = story.refused(
        Action.START_MEDIATION, at("2025-07-02"), consenting_party_ids=["p1", "p2"], informed_of_rights=True
    )
    assert error.code == "case.mediation_not_applicable"
    # Nor can a party "refuse" a mediation that may not take place: that would let the
    # case close without the route the law requires.
    error = story.refused(Action.REFUSE_MEDIATION, at("2025-07-02"), reason="不愿调解", party_id="p1")
    assert error.code == "case.mediation_not_applicable"


def test_should_let_an_administrative_dispute_be_handled_as_a_petition():
    story = accepted(Kind.CLAIM, administrative=True)
    story.do(Action.START_HANDLING, at("2025-07-02"))
    assert story.facts.status is Status.IN_HANDLING


# ---------------------------------------------------------------- routing


def test_should_route_an_accusation_to_discipline_only():
    story = accepted(Kind.ACCUSATION)
    for route in set(Route) - {Route.DISCIPLINE}:
        error = story.refused(Action.ROUTE, at("2025-07-02"), route=route.value, organ="某机关")
        assert error.code == "case.accusation_must_go_to_discipline"
    entry = story.do(Action.ROUTE, at("2025-07-02"), route="discipline", organ="县纪委监委")
    assert (entry.from_status, entry.to_status) == (Status.ACCEPTED, Status.ROUTED_OUT)
    assert story.facts.route is Route.DISCIPLINE
    assert story.facts.routed_at == at("2025-07-02")
    assert entry.data == {"route": "discipline", "organ": "县纪委监委", "objection_last_day": "2025-07-09"}


def test_should_refuse_to_handle_an_accusation_as_a_petition():
    error = accepted(Kind.ACCUSATION).refused(Action.START_HANDLING, at("2025-07-02"))
    assert error.code == "case.accusation_must_go_to_discipline"


def test_should_route_a_litigation_item_to_litigation_only():
    story = accepted(Kind.CLAIM, litigation=True)
    for route in set(Route) - {Route.LITIGATION}:
        assert story.refused(Action.ROUTE, at("2025-07-02"), route=route.value, organ="某机关").code in {
            "case.litigation_must_route"
        }
    assert story.refused(Action.START_HANDLING, at("2025-07-02")).code == "case.litigation_must_route"
    story.do(Action.ROUTE, at("2025-07-02"), route="litigation", organ="县人民法院")
    assert story.facts.route is Route.LITIGATION


def test_should_refuse_a_route_that_is_not_a_route():
    error = accepted().refused(Action.ROUTE, at("2025-07-02"), route="heaven", organ="玉皇大帝")
    assert isinstance(error, InvalidInput)
    assert [issue.field for issue in error.issues] == ["data.route"]


def test_should_take_back_a_misrouted_item_within_five_working_days_across_national_day():
    # Routed Mon Sep 29: working days Sep 30, Oct 9, Oct 10, Sat Oct 11 (调休), Mon Oct 13.
    story = accepted()
    entry = story.do(Action.ROUTE, at("2025-09-29"), route="arbitration", organ="县劳动仲裁委")
    assert entry.data["objection_last_day"] == "2025-10-13"
    # Counting calendar days would have closed the window on Oct 4.
    late = story.refused(Action.RETURN_MISROUTED, midnight_after("2025-10-13"), reason="不属本机关职责")
    assert late.code == "case.window_closed"
    entry = story.do(Action.RETURN_MISROUTED, end_of("2025-10-13"), reason="不属本机关职责")
    assert (entry.from_status, entry.to_status) == (Status.ROUTED_OUT, Status.ACCEPTED)
    assert entry.reason == "不属本机关职责"
    assert story.facts.route is None and story.facts.routed_at is None
    assert story.facts.accepted_at == at("2025-07-01", "10:00")


def test_should_count_a_make_up_sunday_as_a_working_day_for_the_objection():
    # Routed Fri Sep 26: Sun Sep 28 (调休), Sep 29, Sep 30, Oct 9, Oct 10.
    story = accepted()
    entry = story.do(Action.ROUTE, at("2025-09-26"), route="administrative", organ="县自然资源局")
    assert entry.data["objection_last_day"] == "2025-10-10"
    assert (
        story.refused(Action.RETURN_MISROUTED, at("2025-10-11"), reason="不属本机关职责").code == "case.window_closed"
    )


def test_should_allow_closing_a_routed_out_item():
    story = REACH[Status.ROUTED_OUT]()
    story.do(Action.CLOSE, at("2025-07-20"), resolution="已转仲裁")
    assert story.facts.status is Status.CLOSED


# ---------------------------------------------------------------- escalation


def test_should_escalate_one_level_at_a_time_from_village_to_county():
    story = new_case()
    entry = story.do(Action.ESCALATE, at("2025-07-02"), actor=GRID_WORKER, reason="村级无法化解")
    assert (entry.from_status, entry.to_status) == (Status.REGISTERED, Status.ESCALATED)
    assert entry.data == {"from_level": "village", "to_level": "township", "rule": None}
    assert story.facts.level is HandlingLevel.TOWNSHIP
    assert story.facts.escalations == (
        Escalation(HandlingLevel.VILLAGE, HandlingLevel.TOWNSHIP, at("2025-07-02"), None),
    )
    assert allowed_actions(story.facts) == [Action.ACCEPT, Action.RECORD_VISIT, Action.ADD_NOTE]

    entry = story.do(Action.ACCEPT, at("2025-07-03"), number=NUMBER)
    assert entry.data == {"number": NUMBER, "taking_over": True, "level": "township"}
    story.do(Action.START_HANDLING, at("2025-07-04"))
    story.do(Action.ESCALATE, at("2025-07-10"), reason="镇级无法化解", rule="time.town_stage")
    assert story.facts.level is HandlingLevel.COUNTY
    assert [e.to_level for e in story.facts.escalations] == [HandlingLevel.TOWNSHIP, HandlingLevel.COUNTY]
    story.do(Action.ACCEPT, at("2025-07-11"))
    assert story.refused(Action.ESCALATE, at("2025-07-12"), reason="再上报").code == "case.no_higher_level"


def test_should_refuse_to_skip_a_level_without_a_rule():
    story = new_case()
    error = story.refused(Action.ESCALATE, at("2025-07-02"), reason="群体性", to_level="county")
    assert error.code == "case.level_skip_needs_rule"
    blank = story.refused(Action.ESCALATE, at("2025-07-02"), reason="群体性", to_level="county", rule="")
    assert blank.code == "case.level_skip_needs_rule"


def test_should_skip_a_level_when_a_rule_says_so():
    story = new_case()
    entry = story.do(Action.ESCALATE, at("2025-07-02"), reason="群体性事件", to_level="county", rule="risk.collective")
    assert story.facts.level is HandlingLevel.COUNTY
    assert entry.data == {"from_level": "village", "to_level": "county", "rule": "risk.collective"}
    assert story.facts.escalations[-1].rule == "risk.collective"


@pytest.mark.parametrize("target", ["village", "township"])
def test_should_refuse_to_escalate_to_the_same_or_a_lower_level(target: str):
    story = new_case(level=HandlingLevel.TOWNSHIP)
    error = story.refused(Action.ESCALATE, at("2025-07-02"), reason="上报", to_level=target, rule="x")
    assert error.code == "case.invalid_escalation_target"


def test_should_refuse_to_escalate_beyond_the_county():
    story = new_case(level=HandlingLevel.COUNTY)
    assert story.refused(Action.ESCALATE, at("2025-07-02"), reason="上报").code == "case.no_higher_level"


def test_should_keep_the_number_and_the_sixty_day_clock_when_a_higher_level_takes_over():
    story = in_handling()  # accepted at the village Jul 1 10:00
    story.do(Action.ESCALATE, at("2025-07-20"), reason="村级无法化解")
    assert running_clocks(story.facts, CAL) == []  # nobody owns the case yet
    entry = story.do(Action.ACCEPT, at("2025-07-21"), number="611026001-2025-99999")
    assert entry.data["taking_over"] is True
    assert story.facts.number == NUMBER
    assert story.facts.accepted_at == at("2025-07-01", "10:00")
    entry = story.do(Action.START_HANDLING, at("2025-07-22"))
    assert entry.data["due_last_day"] == "2025-09-01"  # 60 days from Jul 1, not from Jul 21
    assert story.facts.handling_started_at == at("2025-07-02")
    [clock] = running_clocks(story.facts, CAL)
    assert clock.started_at == at("2025-07-01", "10:00")


def test_should_escalate_after_failed_or_refused_mediation():
    for status in (Status.MEDIATION_FAILED, Status.MEDIATION_REFUSED, Status.IN_MEDIATION):
        story = REACH[status]()
        story.do(Action.ESCALATE, at("2025-07-15"), reason="调解不成，上报镇级")
        assert story.facts.status is Status.ESCALATED
        assert story.facts.level is HandlingLevel.TOWNSHIP


# ---------------------------------------------------------------- the transition matrix


def _not_allowed() -> list[tuple[Status, Action]]:
    return [
        (status, action)
        for status in Status
        for action in Action
        if action is Action.REGISTER or status not in ALLOWED_FROM[action]
    ]


@pytest.mark.parametrize(("status", "action"), _not_allowed(), ids=lambda v: v.value)
def test_should_refuse_every_action_outside_its_allowed_statuses(status: Status, action: Action):
    story = REACH[status]()
    # A well-formed command with a reason: only the status may refuse it.
    command = Command(action, "理由", plausible_data(action, story.facts), assigned_number=NUMBER)
    with pytest.raises(InvalidTransition) as caught:
        decide(story.facts, command, now=at("2025-12-31"), actor=TOWN_OFFICER, calendar=CAL)
    assert caught.value.code == "case.invalid_transition"
    assert caught.value.data["status"] == status.value
    assert caught.value.data["action"] == action.value
    assert caught.value.data["allowed_actions"] == [a.value for a in allowed_actions(story.facts)]


def test_should_have_refused_pairs_for_every_status_and_only_add_note_after_closing():
    refused = _not_allowed()
    assert len(refused) + sum(len(sources) for sources in ALLOWED_FROM.values()) == len(Status) * len(Action)
    assert allowed_actions(REACH[Status.CLOSED]().facts) == [Action.ADD_NOTE]
    assert Action.RECORD_VISIT in allowed_actions(REACH[Status.FINAL]().facts)


@pytest.mark.parametrize(
    ("status", "action"),
    [(status, action) for action, sources in ALLOWED_FROM.items() for status in sources],
    ids=lambda v: v.value,
)
def test_should_let_every_allowed_pair_past_the_status_check(status: Status, action: Action):
    story = REACH[status]()
    when = story.timeline[-1].at + timedelta(hours=1)
    command = Command(action, "理由", plausible_data(action, story.facts), assigned_number=NUMBER)
    try:
        decision = decide(story.facts, command, now=when, actor=TOWN_OFFICER, calendar=CAL)
    except InvalidTransition:  # pragma: no cover - the assertion below explains
        pytest.fail(f"{action} should be allowed from {status}")
    except InvalidInput as error:  # pragma: no cover
        pytest.fail(f"plausible payload refused: {error.issues}")
    except DomainError as error:
        # A rule (not the status) may still refuse, e.g. closing while a window is open.
        assert error.code != "case.invalid_transition"
    else:
        [entry] = decision.entries
        assert entry.from_status is status
        assert entry.to_status is decision.facts.status
        json.dumps(entry.data)


# ---------------------------------------------------------------- reasons and payloads


def _source_for(action: Action) -> Status:
    preferred = [Status.IN_MEDIATION, Status.IN_HANDLING, Status.ACCEPTED, Status.AGREEMENT_EFFECTIVE]
    sources = ALLOWED_FROM[action]
    return next((status for status in preferred if status in sources), min(sources))


@pytest.mark.parametrize("action", sorted(REASON_REQUIRED), ids=str)
@pytest.mark.parametrize("reason", [None, "", "   \n"], ids=["none", "empty", "blank"])
def test_should_require_a_reason_for_actions_whose_reason_is_on_the_record(action: Action, reason):
    story = REACH[_source_for(action)]()
    error = story.refused(action, at("2025-07-15"), reason=reason, **plausible_data(action, story.facts))
    assert isinstance(error, InvalidInput)
    assert [(issue.field, issue.rule) for issue in error.issues] == [("reason", "reason.required")]


def test_should_name_every_broken_rule_when_both_the_reason_and_the_payload_are_wrong():
    story = in_handling()
    error = story.refused(Action.EXTEND, at("2025-07-15"), days=99)
    assert isinstance(error, InvalidInput)
    assert {issue.field for issue in error.issues} == {"reason", "data.days", "data.approved_by"}


def test_should_not_require_a_reason_where_the_law_does_not():
    story = in_handling()
    entry = story.do(Action.REPLY, at("2025-07-20"), **REPLY)
    assert entry.reason is None


@pytest.mark.parametrize(
    ("status", "action", "data", "fields"),
    [
        (Status.ACCEPTED, Action.ROUTE, {"route": "arbitration"}, ["data.organ"]),
        (Status.ACCEPTED, Action.ROUTE, {"route": "arbitration", "organ": ""}, ["data.organ"]),
        (Status.REGISTERED, Action.ESCALATE, {"to_level": "province"}, ["data.to_level"]),
        (
            Status.IN_HANDLING,
            Action.REPLY,
            {k: v for k, v in REPLY.items() if k != "legal_basis"},
            ["data.legal_basis"],
        ),
        (Status.IN_HANDLING, Action.REPLY, REPLY | {"outcome": "maybe"}, ["data.outcome"]),
        (Status.IN_HANDLING, Action.REPLY, REPLY | {"decision": " ", "request": ""}, ["data.request", "data.decision"]),
        (Status.IN_HANDLING, Action.REPLY, REPLY | {"signature": "x"}, ["data.signature"]),
        (
            Status.REVIEW_REQUESTED,
            Action.DECIDE_REVIEW,
            {},
            ["data.outcome", "data.request", "data.facts_and_reasons", "data.decision", "data.legal_basis"],
        ),
        (Status.REPLIED, Action.EVALUATE, {"evaluation": "meh"}, ["data.evaluation"]),
        (Status.REREVIEW_REQUESTED, Action.RECORD_HEARING, {"days": 0}, ["data.days"]),
        (Status.IN_MEDIATION, Action.RECORD_SESSION, {"summary": ""}, ["data.summary"]),
        (Status.IN_MEDIATION, Action.REACH_AGREEMENT, {"form": "telepathic", "content": "x"}, ["data.form"]),
        (
            Status.ACCEPTED,
            Action.START_MEDIATION,
            {"consenting_party_ids": [], "informed_of_rights": True},
            ["data.consenting_party_ids"],
        ),
        (Status.AGREEMENT_EFFECTIVE, Action.FOLLOW_UP, {}, ["data.summary"]),
        (Status.AGREEMENT_EFFECTIVE, Action.CONFIRM_PERFORMANCE, {"summary": "ok", "extra": 1}, ["data.extra"]),
        (Status.REGISTERED, Action.ADD_NOTE, {"text": "x" * 5001}, ["data.text"]),
        (Status.REGISTERED, Action.RECORD_VISIT, {"summary": "走访", "risk": "extreme"}, ["data.risk"]),
        (Status.REGISTERED, Action.ACCEPT, {"serial": "x"}, ["data.serial"]),
        (Status.FINAL, Action.CLOSE, {"resolution": "x" * 2001}, ["data.resolution"]),
    ],
)
def test_should_name_the_data_field_of_a_malformed_payload(status, action, data, fields):
    story = REACH[status]()
    assert status in ALLOWED_FROM[action]
    error = story.refused(action, at("2025-12-01"), reason="理由", number=NUMBER, **data)
    assert isinstance(error, InvalidInput)
    assert error.code == "validation.failed"
    assert sorted(issue.field for issue in error.issues) == sorted(fields)
    for issue in error.issues:
        assert issue.rule.startswith(f"{action.value}.")
        assert issue.message
    assert error.data["errors"] == [issue.__dict__ for issue in error.issues]


def test_should_refuse_a_reply_delivered_in_the_future_or_without_a_time_zone():
    story = in_handling()
    error = story.refused(Action.REPLY, at("2025-07-20"), **REPLY | {"delivered_at": "2025-07-21T10:00:00+08:00"})
    assert isinstance(error, InvalidInput)
    assert [(i.field, i.rule) for i in error.issues] == [("data.delivered_at", "datetime.future")]
    error = story.refused(Action.REPLY, at("2025-07-20"), **REPLY | {"delivered_at": "2025-07-19T10:00:00"})
    assert isinstance(error, InvalidInput)
    assert [(i.field, i.rule) for i in error.issues] == [("data.delivered_at", "datetime.naive")]


def test_should_accept_a_delivery_time_given_in_another_zone_and_count_it_in_china():
    # 2025-07-19 17:00 UTC is 2025-07-20 01:00 in China: the window counts from Jul 20.
    story = in_handling()
    entry = story.do(Action.REPLY, at("2025-07-21"), **REPLY | {"delivered_at": "2025-07-19T17:00:00+00:00"})
    assert entry.data["review_window_last_day"] == "2025-08-19"


# ---------------------------------------------------------------- petitioner's windows


def handling_since(accepted_on: datetime) -> Story:
    story = new_case(when=accepted_on - timedelta(hours=1))
    story.do(Action.ACCEPT, accepted_on, number=NUMBER)
    story.do(Action.START_HANDLING, accepted_on + timedelta(days=1))
    return story


def replied_on(delivered: datetime, recorded: datetime | None = None) -> Story:
    story = handling_since(delivered - timedelta(days=20))
    story.do(Action.REPLY, recorded or delivered, **REPLY | {"delivered_at": delivered.isoformat()})
    return story


def test_should_accept_a_review_request_on_day_thirty_and_refuse_it_on_day_thirty_one():
    # Delivered Tue Jun 10 (a plain stretch): day 30 is Thu Jul 10, day 31 Fri Jul 11.
    story = replied_on(at("2025-06-10", "17:00"))
    assert story.refused(Action.REQUEST_REVIEW, at("2025-07-11", "00:00")).code == "case.window_closed"
    assert story.refused(Action.REQUEST_REVIEW, at("2025-07-11", "09:00")).code == "case.window_closed"
    story.do(Action.REQUEST_REVIEW, end_of("2025-07-10"))
    assert story.facts.status is Status.REVIEW_REQUESTED


def test_should_roll_the_review_window_over_the_national_day_holiday():
    # Delivered Fri Sep 5: day 30 is Sun Oct 5, a holiday: the window ends Thu Oct 9.
    story = replied_on(at("2025-09-05"))
    assert story.refused(Action.REQUEST_REVIEW, midnight_after("2025-10-09")).code == "case.window_closed"
    story.do(Action.REQUEST_REVIEW, at("2025-10-06"))  # inside the holiday: still open
    assert story.facts.status is Status.REVIEW_REQUESTED
    story = replied_on(at("2025-09-05"))
    story.do(Action.REQUEST_REVIEW, end_of("2025-10-09"))  # day 34, the rolled-over last day
    assert story.facts.status is Status.REVIEW_REQUESTED


def test_should_count_the_review_window_from_delivery_not_from_recording_the_reply():
    # Delivered Fri Jun 20, recorded Jun 25: day 30 is Sun Jul 20 -> Mon Jul 21.
    story = replied_on(at("2025-06-20"), recorded=at("2025-06-25"))
    assert story.facts.replied_at == at("2025-06-25")
    assert story.refused(Action.REQUEST_REVIEW, at("2025-07-22", "09:00")).code == "case.window_closed"
    story.do(Action.REQUEST_REVIEW, end_of("2025-07-21"))
    assert story.facts.status is Status.REVIEW_REQUESTED


def test_should_refuse_a_rereview_request_after_thirty_days_from_the_review_reply():
    story = review_requested()
    story.do(Action.DECIDE_REVIEW, at("2025-08-10"), **REPLY)  # Sun Aug 10: + 30 = Tue Sep 9
    assert story.refused(Action.REQUEST_REREVIEW, midnight_after("2025-09-09")).code == "case.window_closed"
    story.do(Action.REQUEST_REREVIEW, end_of("2025-09-09"))
    assert story.facts.status is Status.REREVIEW_REQUESTED


@pytest.mark.parametrize("evaluation", [None, "dissatisfied"])
def test_should_refuse_to_close_a_reply_while_the_review_window_is_open(evaluation):
    story = replied()  # delivered Jul 20: window ends Tue Aug 19
    if evaluation:
        story.do(Action.EVALUATE, at("2025-07-21"), evaluation=evaluation)
    error = story.refused(Action.CLOSE, end_of("2025-08-19"))
    assert error.code == "case.window_open"
    story.do(Action.CLOSE, midnight_after("2025-08-19"))
    assert story.facts.status is Status.CLOSED


@pytest.mark.parametrize("evaluation", ["satisfied", "basically_satisfied"])
def test_should_close_a_reply_early_when_the_petitioner_is_content(evaluation: str):
    story = replied()
    story.do(Action.EVALUATE, at("2025-07-21"), evaluation=evaluation)
    story.do(Action.CLOSE, at("2025-07-21", "11:00"))
    assert story.facts.status is Status.CLOSED


def test_should_refuse_to_close_a_review_reply_while_the_rereview_window_is_open():
    story = reviewed()  # review delivered Sun Aug 10: window ends Tue Sep 9
    assert story.refused(Action.CLOSE, end_of("2025-09-09")).code == "case.window_open"
    story.do(Action.EVALUATE, at("2025-08-11"), evaluation="basically_satisfied")
    story.do(Action.CLOSE, at("2025-08-11", "11:00"))
    assert story.facts.status is Status.CLOSED


def test_should_not_let_an_evaluation_of_the_review_close_the_reply_stage_of_a_later_case():
    # Contentment with an earlier stage does not carry over to the next decision.
    story = replied()
    story.do(Action.EVALUATE, at("2025-07-21"), evaluation="satisfied")
    story.do(Action.REQUEST_REVIEW, at("2025-07-22"))
    story.do(Action.DECIDE_REVIEW, at("2025-08-10"), **REPLY)
    assert story.facts.evaluation is None
    assert story.refused(Action.CLOSE, at("2025-08-11")).code == "case.window_open"


def test_should_not_let_an_evaluation_of_a_mediation_agreement_close_a_later_reply_early():
    story = agreement_effective()
    story.do(Action.EVALUATE, at("2025-07-07"), evaluation="satisfied")
    story.do(Action.REPORT_NONPERFORMANCE, at("2025-08-01"), reason="逾期未履行", summary="未拆除")
    story.do(Action.START_HANDLING, at("2025-08-02"))
    story.do(Action.REPLY, at("2025-08-20"), **REPLY)
    assert story.facts.evaluation is None
    # The petitioner never said a word about this reply: the review window must run out.
    assert story.refused(Action.CLOSE, at("2025-08-21")).code == "case.window_open"


# ---------------------------------------------------------------- clocks by status


def test_should_run_the_notice_clock_while_a_petition_is_registered():
    story = new_case(when=at("2025-09-20"))
    [clock] = running_clocks(story.facts, CAL)
    assert clock.kind is ClockKind.NOTICE
    assert clock.started_at == at("2025-09-20")
    assert clock.due.last_day == date(2025, 10, 9)  # Oct 5 is inside the holiday
    assert clock.is_duty
    assert next_clock(story.facts, CAL) == clock


@pytest.mark.parametrize("kind", sorted(PETITION_KINDS))
def test_should_run_the_notice_clock_for_every_petition_kind(kind: Kind):
    [clock] = running_clocks(new_case(kind, when=at("2025-06-01")).facts, CAL)
    assert (clock.kind, clock.due.last_day) == (ClockKind.NOTICE, date(2025, 6, 16))


def test_should_run_no_notice_clock_for_a_civil_dispute():
    story = new_case(Kind.CIVIL_DISPUTE, parties=("p1", "p2"))
    assert running_clocks(story.facts, CAL) == []
    assert next_clock(story.facts, CAL) is None
    story.do(Action.ACCEPT, at("2025-07-01", "10:00"), number=NUMBER)
    assert running_clocks(story.facts, CAL) == []  # nor a dispatch clock


CLOCKS = {
    # status: (clock kind, started_at, last day) for the representative case
    # Art. 22: dispatch runs from receipt (registration at 09:00), not from acceptance at 10:00.
    Status.ACCEPTED: (ClockKind.DISPATCH, at("2025-07-01", "09:00"), date(2025, 7, 16)),
    Status.ROUTED_OUT: (ClockKind.OBJECTION, at("2025-07-02"), date(2025, 7, 9)),
    Status.IN_MEDIATION: (ClockKind.MEDIATION, at("2025-07-02"), date(2025, 8, 4)),  # Sat Aug 2 -> Mon
    Status.AGREEMENT_EFFECTIVE: (ClockKind.JUDICIAL_CONFIRMATION, at("2025-07-06"), date(2025, 8, 5)),
    Status.IN_HANDLING: (ClockKind.HANDLING, at("2025-07-01", "10:00"), date(2025, 9, 1)),
    Status.REPLIED: (ClockKind.REVIEW_REQUEST, at("2025-07-20"), date(2025, 8, 19)),
    Status.REVIEW_REQUESTED: (ClockKind.REVIEW_DECISION, at("2025-07-25"), date(2025, 8, 25)),  # Sun Aug 24
    Status.REVIEWED: (ClockKind.REREVIEW_REQUEST, at("2025-08-10"), date(2025, 9, 9)),
    Status.REREVIEW_REQUESTED: (ClockKind.REREVIEW_DECISION, at("2025-08-15"), date(2025, 9, 15)),  # Sun Sep 14
}


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_should_run_exactly_the_clock_of_each_status(status: Status):
    facts = REACH[status]().facts
    clocks = running_clocks(facts, CAL)
    if status is Status.REGISTERED:
        assert [c.kind for c in clocks] == [ClockKind.NOTICE]
        return
    if status not in CLOCKS:
        assert clocks == []
        assert next_clock(facts, CAL) is None
        return
    kind, started_at, last_day = CLOCKS[status]
    [clock] = clocks
    assert (clock.kind, clock.started_at, clock.due.last_day) == (kind, started_at, last_day)
    assert not clock.due.provisional
    assert next_clock(facts, CAL) == clock
    petitioners = {
        ClockKind.OBJECTION,
        ClockKind.JUDICIAL_CONFIRMATION,
        ClockKind.REVIEW_REQUEST,
        ClockKind.REREVIEW_REQUEST,
    }
    assert clock.is_duty is (kind not in petitioners)


def test_should_lengthen_the_handling_clock_by_the_extension_from_acceptance():
    story = in_handling()  # accepted Jul 1
    story.do(Action.EXTEND, at("2025-08-20"), reason="需补充调查", days=30, approved_by="张镇长")
    [clock] = running_clocks(story.facts, CAL)
    assert clock.kind is ClockKind.HANDLING
    assert clock.started_at == at("2025-07-01", "10:00")
    assert clock.due.last_day == date(2025, 9, 29)  # 90 days from Jul 1


def test_should_not_count_hearing_days_in_the_rereview_decision_clock():
    story = reviewed()
    story.do(Action.REQUEST_REREVIEW, at("2025-08-20"))
    [before] = running_clocks(story.facts, CAL)
    assert before.due.last_day == date(2025, 9, 19)
    story.do(Action.RECORD_HEARING, at("2025-08-25"), days=10)
    story.do(Action.RECORD_HEARING, at("2025-08-28"), days=5)
    assert story.facts.hearing_days == 15
    [after] = running_clocks(story.facts, CAL)
    assert after.due.last_day == date(2025, 10, 9)  # Sep 19 + 15 = Oct 4, a holiday -> Oct 9
    assert story.timeline[-1].data == {"days": 5, "decision_last_day": "2025-10-09"}


def test_should_stop_the_judicial_confirmation_clock_once_requested():
    story = agreement_effective()
    story.do(Action.REQUEST_JUDICIAL_CONFIRMATION, at("2025-07-10"))
    assert running_clocks(story.facts, CAL) == []


def test_should_flag_a_clock_ending_in_a_year_without_calendar_data_as_provisional():
    story = new_case(when=at("2026-12-20"))
    [clock] = running_clocks(story.facts, CAL)
    assert clock.due.last_day == date(2027, 1, 4)  # Jan 4 2027 is a Monday
    assert clock.due.provisional


# ---------------------------------------------------------------- JSON round trip


def _full_paths() -> list[Story]:
    stories = [build() for build in REACH.values()]
    claim = new_case(when=at("2025-07-01", "08:30"))
    claim.do(Action.ESCALATE, at("2025-07-01", "09:00"), reason="群体性", to_level="county", rule="risk.collective")
    claim.do(Action.ACCEPT, at("2025-07-02"), number=NUMBER)
    claim.do(Action.START_HANDLING, at("2025-07-03"))
    claim.do(Action.EXTEND, at("2025-07-04"), reason="需补充调查", days=15, approved_by="县长")
    claim.do(Action.REPLY, at("2025-07-20"), **REPLY)
    claim.do(Action.REQUEST_REVIEW, at("2025-07-21"))
    claim.do(Action.DECIDE_REVIEW, at("2025-07-30"), **REPLY)
    claim.do(Action.REQUEST_REREVIEW, at("2025-08-01"))
    claim.do(Action.RECORD_HEARING, at("2025-08-02"), days=3)
    claim.do(Action.DECIDE_REREVIEW, at("2025-08-20"), **REPLY)
    claim.do(Action.EVALUATE, at("2025-08-21"), evaluation="basically_satisfied")
    claim.do(Action.CLOSE, at("2025-08-22"))
    dispute = agreement_effective()
    dispute.do(Action.REQUEST_JUDICIAL_CONFIRMATION, at("2025-07-07"))
    dispute.do(Action.CONFIRM_PERFORMANCE, at("2025-08-01"), summary="已履行")
    dispute.do(Action.CLOSE, at("2025-08-02"))
    return [*stories, claim, dispute]


def test_should_round_trip_case_facts_through_json_along_every_path():
    for story in _full_paths():
        raw = story.facts.to_json()
        text = json.dumps(raw, ensure_ascii=False)
        back = CaseFacts.from_json(json.loads(text))
        assert back == story.facts
        assert back.to_json() == raw
        assert isinstance(back.status, Status) and isinstance(back.level, HandlingLevel)
        assert all(isinstance(e, Escalation) for e in back.escalations)
        assert all(d.tzinfo is not None for d in vars(back).values() if isinstance(d, datetime))
        for entry in story.timeline:
            json.dumps(entry.data, ensure_ascii=False)


def test_should_keep_escalation_history_and_enums_through_json():
    story = _full_paths()[-2]
    back = CaseFacts.from_json(json.loads(json.dumps(story.facts.to_json())))
    assert back.escalations == (
        Escalation(HandlingLevel.VILLAGE, HandlingLevel.COUNTY, at("2025-07-01", "09:00"), "risk.collective"),
    )
    assert back.reply_outcome is Outcome.SUPPORT
    assert back.evaluation is Evaluation.BASICALLY_SATISFIED
    assert back.extension_days == 15 and back.hearing_days == 3
    assert back.party_ids == ("p1",)


# ---------------------------------------------------------------- plausible commands


def plausible_data(action: Action, facts: CaseFacts) -> dict[str, Any]:
    """A well-formed payload for ``action`` given the case (used by the matrix)."""
    parties = list(facts.party_ids) or ["p1"]
    route = (
        "discipline" if facts.kind is Kind.ACCUSATION else "litigation" if facts.involves_litigation else "arbitration"
    )
    return {
        Action.REGISTER: {},
        Action.ACCEPT: {},
        Action.DECLINE: {"basis": "不属于受理范围"},
        Action.ROUTE: {"route": route, "organ": "某机关"},
        Action.RETURN_MISROUTED: {},
        Action.ESCALATE: {},
        Action.REFER_DOWN: {"to_level": "village"},
        Action.START_MEDIATION: {"consenting_party_ids": parties, "informed_of_rights": True},
        Action.REFUSE_MEDIATION: {"party_id": parties[0]},
        Action.RECORD_SESSION: {"summary": "调解记录"},
        Action.FAIL_MEDIATION: {"routes_told": ["litigation"]},
        Action.REACH_AGREEMENT: {"form": "written", "content": "协议内容"},
        Action.SIGN_AGREEMENT: {"party_ids": parties, "mediator_signed": True, "committee_sealed": True},
        Action.FOLLOW_UP: {"summary": "回访"},
        Action.CONFIRM_PERFORMANCE: {"summary": "已履行"},
        Action.REPORT_NONPERFORMANCE: {"summary": "未履行"},
        Action.REQUEST_JUDICIAL_CONFIRMATION: {},
        Action.START_HANDLING: {},
        Action.EXTEND: {"days": 30, "approved_by": "张镇长"},
        Action.REPLY: dict(REPLY),
        Action.EVALUATE: {"evaluation": "satisfied"},
        Action.REQUEST_REVIEW: {},
        Action.DECIDE_REVIEW: dict(REPLY),
        Action.REQUEST_REREVIEW: {},
        Action.RECORD_HEARING: {"days": 5},
        Action.DECIDE_REREVIEW: dict(REPLY),
        Action.RECORD_VISIT: {"summary": "走访", "risk": "low"},
        Action.ADD_NOTE: {"text": "备注"},
        Action.CLOSE: {"resolution": "办结"},
    }[action]


def test_plausible_data_covers_every_action():
    facts = new_case().facts
    for action in Action:
        plausible_data(action, facts)


@st.composite
def commands(draw: st.DrawFn, action: Action, facts: CaseFacts, now: datetime) -> Command:
    """A well-formed command for ``action``, with variations that matter to the rules."""
    parties = list(facts.party_ids)
    reason = "理由" if action in REASON_REQUIRED else draw(st.sampled_from([None, "说明"]))
    data = plausible_data(action, facts)
    if action is Action.ROUTE:
        data["route"] = draw(st.sampled_from([r.value for r in Route]))
    elif action is Action.ESCALATE:
        data = {
            "to_level": draw(st.sampled_from([None, *[level.value for level in HandlingLevel]])),
            "rule": draw(st.sampled_from([None, "risk.high"])),
        }
    elif action is Action.START_MEDIATION:
        data["consenting_party_ids"] = draw(st.lists(st.sampled_from(parties), min_size=1, unique=True))
    elif action is Action.REFUSE_MEDIATION:
        data["party_id"] = draw(st.sampled_from(parties))
    elif action is Action.REACH_AGREEMENT:
        data |= {
            "form": draw(st.sampled_from(["oral", "written"])),
            "creates_obligations": draw(st.booleans()),
            "party_requests_written": draw(st.booleans()),
        }
    elif action is Action.SIGN_AGREEMENT:
        data = {
            "party_ids": draw(st.lists(st.sampled_from(parties), unique=True)),
            "mediator_signed": draw(st.booleans()),
            "committee_sealed": draw(st.booleans()),
        }
    elif action is Action.EXTEND:
        data["days"] = draw(st.integers(1, 30))
    elif action in {Action.REPLY, Action.DECIDE_REVIEW, Action.DECIDE_REREVIEW}:
        data["outcome"] = draw(st.sampled_from([o.value for o in Outcome]))
        late = draw(st.none() | st.integers(0, 5 * 24 * 60))
        if late is not None:
            data["delivered_at"] = (now - timedelta(minutes=late)).isoformat()
    elif action is Action.EVALUATE:
        data["evaluation"] = draw(st.sampled_from([e.value for e in Evaluation]))
    elif action is Action.RECORD_HEARING:
        data["days"] = draw(st.integers(1, 60))
    return Command(action, reason, data, assigned_number=NUMBER)


LEVEL_ORDER = list(HandlingLevel)
# Mostly short gaps (windows stay open, long paths get walked), sometimes long ones.
GAPS = st.one_of(st.integers(0, 2 * 24 * 60), st.integers(0, 40 * 24 * 60))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.sampled_from(list(Kind)),
    st.sampled_from(list(HandlingLevel)),
    st.lists(st.sampled_from(["p1", "p2", "p3"]), min_size=1, max_size=3, unique=True),
    st.booleans(),
    st.booleans(),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 6, 30)),
)
def test_random_command_sequences_keep_the_state_machine_sound(
    data, kind, level, parties, litigation, administrative, start
):
    now = start.replace(tzinfo=CHINA_TZ)
    story = new_case(
        kind, level=level, parties=tuple(parties), litigation=litigation, administrative=administrative, when=now
    )
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        facts = story.facts
        actions = allowed_actions(facts)
        assert actions, "a case is never stuck without any action"
        if facts.status is Status.CLOSED:
            assert actions == [Action.ADD_NOTE]
            refused = data.draw(st.sampled_from([a for a in Action if a is not Action.ADD_NOTE]))
            with pytest.raises(InvalidTransition):
                decide(
                    facts,
                    Command(refused, "理由", plausible_data(refused, facts), NUMBER),
                    now=now,
                    actor=TOWN_OFFICER,
                    calendar=CAL,
                )
        now += timedelta(minutes=data.draw(GAPS, label="gap"))
        action = data.draw(st.sampled_from(actions), label="action")
        command = data.draw(commands(action, facts, now), label="command")
        try:
            decision = decide(facts, command, now=now, actor=TOWN_OFFICER, calendar=CAL)
        except InvalidInput as error:  # pragma: no cover - a plausible payload is valid
            pytest.fail(f"{action}: {error.issues}")
        except InvalidTransition:  # pragma: no cover
            pytest.fail(f"{action} was listed as allowed from {facts.status}")
        except DomainError:
            continue  # a rule refused it: the facts stay as they were
        new = decision.facts
        [entry] = decision.entries
        assert new.status in set(Status)
        assert entry.kind == action.value
        assert entry.from_status is facts.status
        assert entry.to_status is new.status
        assert entry.at == now
        json.dumps(entry.data)
        if action is Action.REFER_DOWN:  # the one way down: handed to a lower level before acceptance
            assert LEVEL_ORDER.index(new.level) < LEVEL_ORDER.index(facts.level)
            assert new.status is facts.status is Status.REGISTERED
        else:
            assert LEVEL_ORDER.index(new.level) >= LEVEL_ORDER.index(facts.level)
        if facts.number is not None:
            assert new.number == facts.number
        if facts.accepted_at is not None:
            assert new.accepted_at == facts.accepted_at
        assert (new.closed_at is not None) is (new.status is Status.CLOSED)
        if action is Action.CLOSE:
            _assert_closing_was_lawful(story, facts, now)
        story.facts = new
        story.timeline.append(entry)
        assert CaseFacts.from_json(json.loads(json.dumps(new.to_json()))) == new

    for before, after in zip(story.timeline, story.timeline[1:], strict=False):
        assert after.from_status is before.to_status
    assert story.timeline[-1].to_status is story.facts.status


def _assert_closing_was_lawful(story: Story, facts: CaseFacts, now: datetime) -> None:
    # An accusation leaves only by refusal or to discipline; a litigation item only to the courts.
    if facts.kind is Kind.ACCUSATION:
        assert facts.status is Status.NOT_ACCEPTED or facts.route is Route.DISCIPLINE
    if facts.involves_litigation:
        assert facts.status is Status.NOT_ACCEPTED or facts.route is Route.LITIGATION
    if facts.status is Status.AGREEMENT_EFFECTIVE:
        assert facts.performance == "performed"
    # A reply closed early needs the petitioner's contentment with that very reply.
    stage = {Status.REPLIED: "reply", Status.REVIEWED: "decide_review"}.get(facts.status)
    if stage is not None:
        last = max(i for i, entry in enumerate(story.timeline) if entry.kind == stage)
        content = [
            entry
            for entry in story.timeline[last:]
            if entry.kind == "evaluate" and entry.data["evaluation"] in {"satisfied", "basically_satisfied"}
        ]
        delivered = facts.reply_delivered_at if facts.status is Status.REPLIED else facts.review_delivered_at
        assert delivered is not None
        # Inside the nominal 30 days the window is certainly open (a roll-over only lengthens it).
        if (now.astimezone(CHINA_TZ).date() - delivered.astimezone(CHINA_TZ).date()).days <= 30:
            assert content, "closed inside the window without the petitioner's say-so"


def test_mediating_during_handling_keeps_the_sixty_day_clock_running():
    story = accepted(Kind.CIVIL_DISPUTE, parties=("p1", "p2"))
    story.do(Action.START_HANDLING, at("2025-07-02"))
    story.do(
        Action.START_MEDIATION,
        at("2025-07-03"),
        actor=MEDIATOR,
        consenting_party_ids=["p1", "p2"],
        informed_of_rights=True,
    )
    kinds = {clock.kind: clock.due.last_day for clock in running_clocks(story.facts, CAL)}
    assert kinds[ClockKind.HANDLING] == date(2025, 9, 1)  # 60 days from acceptance on 1 July, Aug 30 is a Saturday
    assert ClockKind.MEDIATION in kinds


def test_should_refuse_a_consent_from_someone_who_is_not_a_party():
    story = civil_accepted()
    error = story.refused(
        Action.START_MEDIATION,
        at("2025-07-02"),
        actor=MEDIATOR,
        consenting_party_ids=["p1", "p2", "stranger"],
        informed_of_rights=True,
    )
    assert isinstance(error, InvalidInput)
    assert error.issues[0].field == "data.consenting_party_ids"


def test_should_refuse_a_second_request_for_judicial_confirmation():
    story = agreement_effective()
    story.do(Action.REQUEST_JUDICIAL_CONFIRMATION, at("2025-07-10"), actor=MEDIATOR)
    error = story.refused(Action.REQUEST_JUDICIAL_CONFIRMATION, at("2025-07-11"), actor=MEDIATOR)
    assert error.code == "case.already_requested"


def test_should_refuse_a_naive_now():
    story = accepted()
    with pytest.raises(ValueError, match="aware"):
        story.do(Action.ADD_NOTE, datetime(2025, 7, 3, 10, 0), text="无时区")
