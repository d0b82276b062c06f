"""Pure rules of extensions (Art. 34), organ heads and recusals (Art. 28)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime

import pytest

from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import HandlingLevel, Kind
from grid.errors import DomainError, InvalidInput
from grid.extensions import ExtensionRequest, ExtensionStatus, check_may_decide, check_reason, check_request
from grid.hierarchy import Level
from grid.lifecycle import Action, Actor, Command, Status, decide, register
from grid.organs import HeadCandidate, check_head_candidate, organ_level_for
from grid.people import Role
from grid.recusals import CaseRecusal, RecusalSource, check_may_lift, check_may_record

CALENDAR = StatutoryCalendar()
ACTOR = Actor("u1", "测试")
ACCEPTED_AT = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA_TZ)


def handling_facts():
    facts = register(
        kind=Kind.CLAIM,
        level=HandlingLevel.TOWNSHIP,
        party_ids=("p1",),
        involves_litigation=False,
        administrative_dispute=False,
        now=ACCEPTED_AT,
        actor=ACTOR,
    ).facts
    for command in (Command(Action.ACCEPT, assigned_number="N-1"), Command(Action.START_HANDLING)):
        facts = decide(facts, command, now=ACCEPTED_AT, actor=ACTOR, calendar=CALENDAR).facts
    return facts


def code_of(call) -> str:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code


def test_a_request_is_refused_with_the_lifecycles_own_codes():
    facts = handling_facts()
    at = datetime(2026, 4, 1, tzinfo=CHINA_TZ)
    due = check_request(facts, days=30, reason="需补充调查", now=at, actor=ACTOR, calendar=CALENDAR)
    assert (due.last_day, due.provisional) == (date(2026, 6, 1), False)
    extended = replace(facts, extension_days=10)
    assert code_of(lambda: check_request(extended, days=5, reason="再延", now=at, actor=ACTOR, calendar=CALENDAR)) == (
        "case.extension_used"
    )
    late = datetime(2026, 5, 7, tzinfo=CHINA_TZ)
    assert code_of(lambda: check_request(facts, days=5, reason="来不及", now=late, actor=ACTOR, calendar=CALENDAR)) == (
        "case.window_closed"
    )
    replied = replace(facts, status=Status.REPLIED)
    assert code_of(lambda: check_request(replied, days=5, reason="延期", now=at, actor=ACTOR, calendar=CALENDAR)) == (
        "case.invalid_transition"
    )


@pytest.mark.parametrize(
    ("reason", "rule"),
    [("  ", "reason.required"), ("need more time", "reason.not_chinese"), ("2026-05", "reason.not_chinese")],
)
def test_an_extension_reason_must_be_given_in_chinese(reason, rule):
    with pytest.raises(InvalidInput) as raised:
        check_reason(reason)
    assert [(issue.field, issue.rule) for issue in raised.value.issues] == [("reason", rule)]


def test_a_reason_in_chinese_with_latin_letters_and_digits_is_kept_trimmed():
    assert check_reason("  需GPS复测，约20日 ") == "需GPS复测，约20日"


def test_a_case_held_by_a_village_is_handled_by_its_township():
    assert [organ_level_for(level) for level in HandlingLevel] == [Level.TOWNSHIP, Level.TOWNSHIP, Level.COUNTY]


@pytest.mark.parametrize(
    ("candidate", "organ_level", "code"),
    [
        (HeadCandidate(Role.VILLAGE_LEADER, "V", True), "village", "organ.not_an_organ"),
        (HeadCandidate(Role.TOWN_OFFICER, "T", True), "grid", "organ.not_an_organ"),
        (HeadCandidate(Role.COUNTY_OFFICER, "T", True), "township", "organ.head_not_member"),
        (HeadCandidate(Role.ADMIN, "T", True), "township", "organ.head_not_member"),
        (HeadCandidate(Role.TOWN_OFFICER, "T2", True), "township", "organ.head_not_member"),
        (HeadCandidate(Role.TOWN_OFFICER, "T", False), "township", "organ.head_not_member"),
    ],
)
def test_a_head_is_an_active_officer_of_the_organs_own_node_and_level(candidate, organ_level, code):
    assert code_of(lambda: check_head_candidate(candidate, "T", organ_level)) == code


def test_a_town_officer_of_the_town_may_head_it():
    check_head_candidate(HeadCandidate(Role.TOWN_OFFICER, "T", True), "T", "township")
    check_head_candidate(HeadCandidate(Role.COUNTY_OFFICER, "C", True), "C", "county")


def request(status: ExtensionStatus = ExtensionStatus.PENDING, requested_by: uuid.UUID | None = None):
    return ExtensionRequest(
        id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        organ_node_code="T",
        days=10,
        reason="需补充调查",
        requested_by=requested_by or uuid.uuid4(),
        requested_by_name="甲",
        requested_at=ACCEPTED_AT,
        status=status.value,
    )


def test_only_another_head_decides_a_pending_request():
    me = uuid.uuid4()
    assert code_of(lambda: check_may_decide(request(ExtensionStatus.LAPSED), approver_id=me, is_head=True)) == (
        "extension.already_decided"
    )
    assert code_of(lambda: check_may_decide(request(), approver_id=me, is_head=False)) == "organ.not_head"
    own = request(requested_by=me)
    assert code_of(lambda: check_may_decide(own, approver_id=me, is_head=True)) == "extension.self_approval"
    check_may_decide(request(), approver_id=me, is_head=True)


def test_a_recusal_source_must_fit_who_records_it_and_for_whom():
    me, other = uuid.uuid4(), uuid.uuid4()

    def record(source, role=Role.VILLAGE_LEADER, user=other, party=False):
        return lambda: check_may_record(source, recorder_id=me, recorder_role=role, user_id=user, has_party=party)

    assert code_of(record(RecusalSource.DECLARED)) == "recusal.invalid_source"
    assert code_of(record(RecusalSource.LEADER, user=me)) == "recusal.invalid_source"
    assert code_of(record(RecusalSource.PARTY)) == "recusal.party_required"
    assert code_of(record(RecusalSource.LEADER, role=Role.GRID_WORKER)) == "auth.forbidden"
    record(RecusalSource.PARTY, role=Role.GRID_WORKER, party=True)()
    record(RecusalSource.DECLARED, role=Role.GRID_WORKER, user=me)()


def test_only_a_head_lifts_a_recusal_someone_asked_for_and_nobody_a_declared_one():
    def recusal(source: RecusalSource, lifted: bool = False) -> CaseRecusal:
        return CaseRecusal(
            id=uuid.uuid4(),
            case_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            user_name="乙",
            source=source.value,
            reason="利害关系",
            recorded_by=uuid.uuid4(),
            recorded_by_name="甲",
            recorded_at=ACCEPTED_AT,
            lifted_at=ACCEPTED_AT if lifted else None,
        )

    assert code_of(lambda: check_may_lift(recusal(RecusalSource.PARTY, lifted=True), is_head=True)) == (
        "recusal.already_lifted"
    )
    assert code_of(lambda: check_may_lift(recusal(RecusalSource.DECLARED), is_head=True)) == "recusal.not_liftable"
    assert code_of(lambda: check_may_lift(recusal(RecusalSource.LEADER), is_head=False)) == "organ.not_head"
    check_may_lift(recusal(RecusalSource.PARTY), is_head=True)
