"""The life of a case, as one state machine.

Every change to a case — a status change or an entry that keeps the status (a mediation
session, an approved extension, an evaluation) — goes through :func:`decide`, which takes
the case's lifecycle facts, a command, the actor, ``now`` and the calendar and returns the
new facts and the timeline entries to append. It reads no clock and touches no storage, so
every statutory rule can be tested at any date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grid import deadlines
from grid.calendar import StatutoryCalendar, local_date
from grid.cases import HandlingLevel, Kind
from grid.errors import DomainError, InvalidInput, Issue


class Status(StrEnum):
    REGISTERED = "registered"
    NOT_ACCEPTED = "not_accepted"
    ACCEPTED = "accepted"
    ROUTED_OUT = "routed_out"
    ESCALATED = "escalated"
    IN_MEDIATION = "in_mediation"
    MEDIATION_REFUSED = "mediation_refused"
    MEDIATION_FAILED = "mediation_failed"
    AGREEMENT_PENDING = "agreement_pending"
    AGREEMENT_EFFECTIVE = "agreement_effective"
    IN_HANDLING = "in_handling"
    REPLIED = "replied"
    REVIEW_REQUESTED = "review_requested"
    REVIEWED = "reviewed"
    REREVIEW_REQUESTED = "rereview_requested"
    FINAL = "final"
    CLOSED = "closed"


STATUS_NAMES_ZH = {
    Status.REGISTERED: "已登记",
    Status.NOT_ACCEPTED: "不予受理",
    Status.ACCEPTED: "已受理",
    Status.ROUTED_OUT: "已分流转送",
    Status.ESCALATED: "已上报待接收",
    Status.IN_MEDIATION: "调解中",
    Status.MEDIATION_REFUSED: "当事人拒绝调解",
    Status.MEDIATION_FAILED: "调解不成",
    Status.AGREEMENT_PENDING: "调解协议待签署",
    Status.AGREEMENT_EFFECTIVE: "调解协议已生效",
    Status.IN_HANDLING: "办理中",
    Status.REPLIED: "已出具处理意见",
    Status.REVIEW_REQUESTED: "复查中",
    Status.REVIEWED: "已复查",
    Status.REREVIEW_REQUESTED: "复核中",
    Status.FINAL: "复核终结",
    Status.CLOSED: "已办结",
}

OPEN_STATUSES = frozenset(Status) - {Status.CLOSED}


class Action(StrEnum):
    REGISTER = "register"
    ACCEPT = "accept"
    DECLINE = "decline"
    ROUTE = "route"
    RETURN_MISROUTED = "return_misrouted"
    ESCALATE = "escalate"
    REFER_DOWN = "refer_down"
    START_MEDIATION = "start_mediation"
    REFUSE_MEDIATION = "refuse_mediation"
    RECORD_SESSION = "record_session"
    FAIL_MEDIATION = "fail_mediation"
    REACH_AGREEMENT = "reach_agreement"
    SIGN_AGREEMENT = "sign_agreement"
    FOLLOW_UP = "follow_up"
    CONFIRM_PERFORMANCE = "confirm_performance"
    REPORT_NONPERFORMANCE = "report_nonperformance"
    REQUEST_JUDICIAL_CONFIRMATION = "request_judicial_confirmation"
    START_HANDLING = "start_handling"
    EXTEND = "extend"
    REPLY = "reply"
    EVALUATE = "evaluate"
    REQUEST_REVIEW = "request_review"
    DECIDE_REVIEW = "decide_review"
    REQUEST_REREVIEW = "request_rereview"
    RECORD_HEARING = "record_hearing"
    DECIDE_REREVIEW = "decide_rereview"
    RECORD_VISIT = "record_visit"
    ADD_NOTE = "add_note"
    CLOSE = "close"


ACTION_NAMES_ZH = {
    Action.REGISTER: "登记",
    Action.ACCEPT: "受理",
    Action.DECLINE: "不予受理",
    Action.ROUTE: "分流转送",
    Action.RETURN_MISROUTED: "退回（转送有误）",
    Action.ESCALATE: "上报",
    Action.REFER_DOWN: "交由下级办理",
    Action.START_MEDIATION: "开始调解",
    Action.REFUSE_MEDIATION: "当事人拒绝或要求终止调解",
    Action.RECORD_SESSION: "调解记录",
    Action.FAIL_MEDIATION: "调解不成",
    Action.REACH_AGREEMENT: "达成调解协议",
    Action.SIGN_AGREEMENT: "协议签名盖章",
    Action.FOLLOW_UP: "回访",
    Action.CONFIRM_PERFORMANCE: "确认协议履行",
    Action.REPORT_NONPERFORMANCE: "协议未履行",
    Action.REQUEST_JUDICIAL_CONFIRMATION: "申请司法确认",
    Action.START_HANDLING: "开始办理",
    Action.EXTEND: "延长办理期限",
    Action.REPLY: "出具信访处理意见书",
    Action.EVALUATE: "信访人评价",
    Action.REQUEST_REVIEW: "申请复查",
    Action.DECIDE_REVIEW: "出具复查意见",
    Action.REQUEST_REREVIEW: "申请复核",
    Action.RECORD_HEARING: "听证",
    Action.DECIDE_REREVIEW: "出具复核意见",
    Action.RECORD_VISIT: "走访记录",
    Action.ADD_NOTE: "备注",
    Action.CLOSE: "办结",
}


class Route(StrEnum):
    """Art. 31 routes (1)-(5) and the discipline route of Art. 30; route (6) is handling."""

    LITIGATION = "litigation"
    ARBITRATION = "arbitration"
    PARTY_APPEAL = "party_appeal"
    ADMINISTRATIVE = "administrative"
    ORGAN_DUTY = "organ_duty"
    DISCIPLINE = "discipline"


ROUTE_NAMES_ZH = {
    Route.LITIGATION: "导入诉讼、检察或公安程序（涉法涉诉）",
    Route.ARBITRATION: "导入仲裁程序",
    Route.PARTY_APPEAL: "导入党员申诉程序",
    Route.ADMINISTRATIVE: "导入行政复议、裁决等行政程序",
    Route.ORGAN_DUTY: "转有权机关履行法定职责",
    Route.DISCIPLINE: "转纪检监察机关",
}


class Outcome(StrEnum):
    SUPPORT = "support"
    EXPLAIN = "explain"
    REJECT = "reject"


OUTCOME_NAMES_ZH = {Outcome.SUPPORT: "予以支持", Outcome.EXPLAIN: "解释说明", Outcome.REJECT: "不予支持"}


class Evaluation(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


EVALUATION_NAMES_ZH = {
    Evaluation.SATISFIED: "满意",
    Evaluation.BASICALLY_SATISFIED: "基本满意",
    Evaluation.DISSATISFIED: "不满意",
}


@dataclass(frozen=True)
class Escalation:
    from_level: HandlingLevel
    to_level: HandlingLevel
    at: datetime
    rule: str | None


@dataclass(frozen=True)
class ReviewHolder:
    """The organ that holds a 复查 or 复核 (Art. 35, 36), as routed when it was asked for.

    Decided by ``grid.review_chain.route`` from the organ whose decision is contested, the
    case's places and the county policy; the lifecycle only records it.
    """

    stage: Literal["review", "rereview"]
    organ: str  # its name (the policy's [dissatisfaction] table, or the law's default)
    organ_level: str  # the organ's own level: township, county, city or province
    # The level of this deployment that keeps the file and records the organ's acts: the
    # organ's level, or the county for an organ above it.
    level: HandlingLevel
    node_code: str | None  # the region whose officers act on it
    node_name: str | None
    contested_level: str  # whose decision is contested: village, township, county or city
    rule: str  # the policy rule that named the organ, or law.review / law.rereview
    summary_zh: str  # where it went and why, for the timeline

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ReviewHolder:
        return cls(**{**raw, "level": HandlingLevel(raw["level"])})


@dataclass(frozen=True)
class CaseFacts:
    """Everything the lifecycle rules need to know about one case."""

    status: Status
    level: HandlingLevel
    kind: Kind
    registered_at: datetime
    party_ids: tuple[str, ...] = ()
    involves_litigation: bool = False
    administrative_dispute: bool = False
    number: str | None = None
    accepted_at: datetime | None = None
    route: Route | None = None
    routed_at: datetime | None = None
    handling_started_at: datetime | None = None
    extension_days: int | None = None
    extension_approved_by: str | None = None
    # The reason told to the petitioner (延期告知书) and when the head approved it.
    extension_reason: str | None = None
    extension_approved_at: datetime | None = None
    mediation_started_at: datetime | None = None
    agreement_form: Literal["oral", "written"] | None = None
    agreement_reached_at: datetime | None = None
    agreement_effective_at: datetime | None = None
    signed_party_ids: tuple[str, ...] = ()
    mediator_signed: bool = False
    committee_sealed: bool = False
    performance: Literal["performed", "not_performed"] | None = None
    judicial_confirmation_requested_at: datetime | None = None
    reply_outcome: Outcome | None = None
    replied_at: datetime | None = None
    reply_delivered_at: datetime | None = None
    review_requested_at: datetime | None = None
    review_outcome: Outcome | None = None
    review_delivered_at: datetime | None = None
    rereview_requested_at: datetime | None = None
    hearing_days: int = 0
    rereview_outcome: Outcome | None = None
    rereview_delivered_at: datetime | None = None
    evaluation: Evaluation | None = None
    closed_at: datetime | None = None
    escalations: tuple[Escalation, ...] = field(default_factory=tuple)
    # When the case reached its current level (None only in facts stored before it was
    # kept). Stage targets of the escalation policy count from here; an automatic
    # escalation sets it to the instant the rule fired, not when a sweep applied it
    # (grid/escalation.py).
    level_entered_at: datetime | None = None
    # Who holds the 复查 / 复核 (None in facts stored before it was kept, or when the
    # caller routed none: then the case only moved one level up).
    review_holder: ReviewHolder | None = None
    rereview_holder: ReviewHolder | None = None

    def to_json(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies every value, and this runs on
        # every change of every case.
        return {name: _jsonable(getattr(self, name)) for name in _FIELD_NAMES}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CaseFacts:
        values: dict[str, Any] = dict(raw)
        for name in _DATETIME_FIELDS:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        for name, enum in _ENUM_FIELDS.items():
            if values.get(name) is not None:
                values[name] = enum(values[name])
        for name in ("party_ids", "signed_party_ids"):
            values[name] = tuple(values.get(name) or ())
        values["escalations"] = tuple(
            Escalation(
                HandlingLevel(item["from_level"]),
                HandlingLevel(item["to_level"]),
                datetime.fromisoformat(item["at"]),
                item.get("rule"),
            )
            for item in values.get("escalations") or ()
        )
        for name in ("review_holder", "rereview_holder"):
            if values.get(name) is not None:
                values[name] = ReviewHolder.from_json(values[name])
        return cls(**values)


_FIELD_NAMES = tuple(CaseFacts.__dataclass_fields__)
_DATETIME_FIELDS = [name for name, annotation in CaseFacts.__annotations__.items() if "datetime" in str(annotation)]
_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "status": Status,
    "level": HandlingLevel,
    "kind": Kind,
    "route": Route,
    "reply_outcome": Outcome,
    "review_outcome": Outcome,
    "rereview_outcome": Outcome,
    "evaluation": Evaluation,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):  # Escalation, ReviewHolder, …
        return {item.name: _jsonable(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


@dataclass(frozen=True)
class Actor:
    user_id: str | None
    name: str


@dataclass(frozen=True)
class Command:
    action: Action
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    # Filled by the caller for ACCEPT when the case has no number yet: the number is a
    # database counter, drawn in the same transaction.
    assigned_number: str | None = None
    # Filled by the caller for REQUEST_REVIEW / REQUEST_REREVIEW (grid.review_chain.route):
    # the organ depends on the places and the county policy, which the lifecycle does not know.
    review_holder: ReviewHolder | None = None


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    at: datetime
    actor_id: str | None
    actor_name: str
    reason: str | None
    from_status: Status | None
    to_status: Status | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    facts: CaseFacts
    entries: tuple[TimelineEntry, ...]


class InvalidTransition(DomainError):
    code = "case.invalid_transition"


# ---------------------------------------------------------------- payloads per action


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoPayload(_Payload):
    pass


class DeclinePayload(_Payload):
    basis: str = Field(default="", max_length=500, description="不予受理的依据")


class RoutePayload(_Payload):
    route: Route
    organ: str = Field(min_length=1, max_length=100, description="接收机关")


class EscalatePayload(_Payload):
    to_level: HandlingLevel | None = None
    rule: str | None = Field(default=None, max_length=100, description="触发上报的规则")


class StartMediationPayload(_Payload):
    consenting_party_ids: list[str] = Field(min_length=1)
    informed_of_rights: bool = Field(description="已告知调解性质、当事人权利义务")

    # A field validator, so the issue names data.informed_of_rights (a model validator
    # would report it against the whole payload, "data").
    @field_validator("informed_of_rights")
    @classmethod
    def must_inform(cls, value: bool) -> bool:
        if not value:
            raise ValueError("调解前须告知当事人调解的性质、权利和义务")
        return value


class RefuseMediationPayload(_Payload):
    party_id: str = Field(min_length=1)


class SessionPayload(_Payload):
    summary: str = Field(min_length=1, max_length=5000)
    place: str = Field(default="", max_length=200)
    participants: list[str] = Field(default_factory=list)
    violence_risk: bool = False


class FailMediationPayload(_Payload):
    routes_told: list[Literal["arbitration", "administrative", "litigation"]] = Field(min_length=1)


class AgreementPayload(_Payload):
    form: Literal["oral", "written"]
    content: str = Field(min_length=1, max_length=10000)
    creates_obligations: bool = False
    party_requests_written: bool = False
    performance_manner: str = Field(default="", max_length=500)
    performance_place: str = Field(default="", max_length=200)
    performance_deadline: str = Field(default="", max_length=100)


class SignPayload(_Payload):
    party_ids: list[str] = Field(default_factory=list)
    mediator_signed: bool = False
    committee_sealed: bool = False


class FollowUpPayload(_Payload):
    summary: str = Field(min_length=1, max_length=5000)


class ExtendPayload(_Payload):
    days: int = Field(ge=1, le=deadlines.MAX_EXTENSION_DAYS)
    approved_by: str = Field(min_length=1, max_length=64, description="批准延期的机关负责人")


class ReplyPayload(_Payload):
    outcome: Outcome
    request: str = Field(min_length=1, max_length=5000, description="信访请求")
    facts_and_reasons: str = Field(min_length=1, max_length=10000)
    decision: str = Field(min_length=1, max_length=5000)
    legal_basis: str = Field(min_length=1, max_length=2000)
    delivered_at: datetime | None = Field(default=None, description="送达信访人的时间")


class EvaluatePayload(_Payload):
    evaluation: Evaluation


class HearingPayload(_Payload):
    days: int = Field(ge=1, le=365)


class RequestReviewPayload(_Payload):
    # A request that came by letter is on time when the organ received it within the
    # window, however late an officer records it.
    received_at: datetime | None = Field(default=None, description="机关收到复查（复核）申请的时间，默认为录入时")


class ReferDownPayload(_Payload):
    to_level: HandlingLevel
    organ: str = Field(default="", max_length=100, description="接收的下级机关或组织")


class VisitPayload(_Payload):
    summary: str = Field(min_length=1, max_length=5000)
    risk: Literal["low", "medium", "high"] | None = None


class NotePayload(_Payload):
    text: str = Field(min_length=1, max_length=5000)


class ClosePayload(_Payload):
    resolution: str = Field(default="", max_length=2000)


PAYLOADS: dict[Action, type[_Payload]] = {
    Action.REGISTER: NoPayload,
    Action.ACCEPT: NoPayload,
    Action.DECLINE: DeclinePayload,
    Action.ROUTE: RoutePayload,
    Action.RETURN_MISROUTED: NoPayload,
    Action.ESCALATE: EscalatePayload,
    Action.REFER_DOWN: ReferDownPayload,
    Action.START_MEDIATION: StartMediationPayload,
    Action.REFUSE_MEDIATION: RefuseMediationPayload,
    Action.RECORD_SESSION: SessionPayload,
    Action.FAIL_MEDIATION: FailMediationPayload,
    Action.REACH_AGREEMENT: AgreementPayload,
    Action.SIGN_AGREEMENT: SignPayload,
    Action.FOLLOW_UP: FollowUpPayload,
    Action.CONFIRM_PERFORMANCE: FollowUpPayload,
    Action.REPORT_NONPERFORMANCE: FollowUpPayload,
    Action.REQUEST_JUDICIAL_CONFIRMATION: NoPayload,
    Action.START_HANDLING: NoPayload,
    Action.EXTEND: ExtendPayload,
    Action.REPLY: ReplyPayload,
    Action.EVALUATE: EvaluatePayload,
    Action.REQUEST_REVIEW: RequestReviewPayload,
    Action.DECIDE_REVIEW: ReplyPayload,
    Action.REQUEST_REREVIEW: RequestReviewPayload,
    Action.RECORD_HEARING: HearingPayload,
    Action.DECIDE_REREVIEW: ReplyPayload,
    Action.RECORD_VISIT: VisitPayload,
    Action.ADD_NOTE: NotePayload,
    Action.CLOSE: ClosePayload,
}

# Actions whose reason is part of the record the law requires (told to the petitioner,
# or the ground of a refusal).
REASON_REQUIRED = frozenset(
    {
        Action.DECLINE,
        Action.RETURN_MISROUTED,
        Action.ESCALATE,
        Action.REFER_DOWN,
        Action.REFUSE_MEDIATION,
        Action.FAIL_MEDIATION,
        Action.EXTEND,
        Action.REPORT_NONPERFORMANCE,
    }
)

# Where each action may start. The handler of an action decides the target (some depend
# on the payload, e.g. an oral agreement is effective at once, a written one awaits seals).
ALLOWED_FROM: dict[Action, frozenset[Status]] = {
    Action.ACCEPT: frozenset({Status.REGISTERED, Status.ESCALATED}),
    Action.DECLINE: frozenset({Status.REGISTERED}),
    Action.ROUTE: frozenset({Status.ACCEPTED}),
    Action.RETURN_MISROUTED: frozenset({Status.ROUTED_OUT}),
    # 交办: a petition received above the level that should handle it is handed down
    # before anyone accepts it (Art. 20 ¶1, 22).
    Action.REFER_DOWN: frozenset({Status.REGISTERED}),
    Action.ESCALATE: frozenset(
        {
            Status.REGISTERED,
            Status.ACCEPTED,
            Status.IN_MEDIATION,
            Status.MEDIATION_REFUSED,
            Status.MEDIATION_FAILED,
            Status.IN_HANDLING,
        }
    ),
    Action.START_MEDIATION: frozenset({Status.ACCEPTED, Status.IN_HANDLING, Status.MEDIATION_FAILED}),
    Action.REFUSE_MEDIATION: frozenset({Status.ACCEPTED, Status.IN_MEDIATION}),
    Action.RECORD_SESSION: frozenset({Status.IN_MEDIATION}),
    Action.FAIL_MEDIATION: frozenset({Status.IN_MEDIATION}),
    Action.REACH_AGREEMENT: frozenset({Status.IN_MEDIATION}),
    Action.SIGN_AGREEMENT: frozenset({Status.AGREEMENT_PENDING}),
    Action.FOLLOW_UP: frozenset({Status.AGREEMENT_EFFECTIVE}),
    Action.CONFIRM_PERFORMANCE: frozenset({Status.AGREEMENT_EFFECTIVE}),
    Action.REPORT_NONPERFORMANCE: frozenset({Status.AGREEMENT_EFFECTIVE}),
    Action.REQUEST_JUDICIAL_CONFIRMATION: frozenset({Status.AGREEMENT_EFFECTIVE}),
    Action.START_HANDLING: frozenset({Status.ACCEPTED, Status.MEDIATION_REFUSED, Status.MEDIATION_FAILED}),
    Action.EXTEND: frozenset({Status.IN_HANDLING}),
    Action.REPLY: frozenset({Status.IN_HANDLING}),
    Action.EVALUATE: frozenset({Status.REPLIED, Status.REVIEWED, Status.FINAL, Status.AGREEMENT_EFFECTIVE}),
    Action.REQUEST_REVIEW: frozenset({Status.REPLIED}),
    Action.DECIDE_REVIEW: frozenset({Status.REVIEW_REQUESTED}),
    Action.REQUEST_REREVIEW: frozenset({Status.REVIEWED}),
    Action.RECORD_HEARING: frozenset({Status.REREVIEW_REQUESTED}),
    Action.DECIDE_REREVIEW: frozenset({Status.REREVIEW_REQUESTED}),
    Action.RECORD_VISIT: OPEN_STATUSES,
    Action.ADD_NOTE: frozenset(Status),
    Action.CLOSE: frozenset(
        {
            Status.NOT_ACCEPTED,
            Status.ROUTED_OUT,
            Status.MEDIATION_REFUSED,
            Status.MEDIATION_FAILED,
            Status.AGREEMENT_EFFECTIVE,
            Status.REPLIED,
            Status.REVIEWED,
            Status.FINAL,
        }
    ),
}

PETITION_KINDS = frozenset({Kind.SUGGESTION, Kind.ACCUSATION, Kind.CLAIM})


# ---------------------------------------------------------------- the one function


def register(
    *,
    kind: Kind,
    level: HandlingLevel,
    party_ids: tuple[str, ...],
    involves_litigation: bool,
    administrative_dispute: bool,
    now: datetime,
    actor: Actor,
) -> Decision:
    """The first facts of a case; a case is registered on receipt (Art. 22)."""
    facts = CaseFacts(
        status=Status.REGISTERED,
        level=level,
        kind=kind,
        registered_at=now,
        party_ids=party_ids,
        involves_litigation=involves_litigation,
        administrative_dispute=administrative_dispute,
        level_entered_at=now,
    )
    entry = TimelineEntry(
        kind=Action.REGISTER,
        at=now,
        actor_id=actor.user_id,
        actor_name=actor.name,
        reason=None,
        from_status=None,
        to_status=Status.REGISTERED,
        data={"level": level.value},
    )
    return Decision(facts, (entry,))


def decide(
    facts: CaseFacts,
    command: Command,
    *,
    now: datetime,
    actor: Actor,
    calendar: StatutoryCalendar,
) -> Decision:
    """Apply one command to a case: the new facts and the timeline entries to append.

    Raises ``InvalidTransition`` (``case.invalid_transition``) when the action is not
    allowed from the current status, another ``DomainError`` when a rule refuses it, and
    ``InvalidInput`` when the payload is malformed.
    """
    if now.tzinfo is None:
        raise ValueError("decide() needs an aware datetime for now")
    if command.action is Action.REGISTER:
        raise InvalidTransition("案件已登记，不能重复登记", data=_transition_data(facts, command))
    allowed = ALLOWED_FROM[command.action]
    if facts.status not in allowed:
        raise InvalidTransition(
            f"当前状态为“{STATUS_NAMES_ZH[facts.status]}”，不能执行“{ACTION_NAMES_ZH[command.action]}”",
            data=_transition_data(facts, command),
        )
    reason = (command.reason or "").strip() or None
    issues: list[Issue] = []
    if command.action in REASON_REQUIRED and not reason:
        issues.append(Issue("reason", "reason.required", f"“{ACTION_NAMES_ZH[command.action]}”须说明理由"))
    try:
        payload = _parse_payload(command)
    except InvalidInput as error:
        # InvalidInput names every broken rule at once, the reason's and the payload's.
        raise InvalidInput([*issues, *error.issues]) from None
    if issues:
        raise InvalidInput(issues)
    handler = _HANDLERS[command.action]
    new_facts, data = handler(facts, payload, command, now, calendar)
    entry = TimelineEntry(
        kind=command.action.value,
        at=now,
        actor_id=actor.user_id,
        actor_name=actor.name,
        reason=reason,
        from_status=facts.status,
        to_status=new_facts.status,
        data=_jsonable(data),
    )
    return Decision(new_facts, (entry,))


def allowed_actions(facts: CaseFacts) -> list[Action]:
    return [action for action, sources in ALLOWED_FROM.items() if facts.status in sources]


def _transition_data(facts: CaseFacts, command: Command) -> dict[str, Any]:
    return {
        "status": facts.status.value,
        "action": command.action.value,
        "allowed_actions": [action.value for action in allowed_actions(facts)],
    }


def _parse_payload(command: Command) -> _Payload:
    model = PAYLOADS[command.action]
    try:
        return model.model_validate(dict(command.data))
    except ValidationError as error:
        raise InvalidInput(
            [
                Issue(
                    ".".join(["data", *(str(part) for part in problem["loc"])]),
                    f"{command.action.value}.{problem['type']}",
                    problem["msg"],
                )
                for problem in error.errors()
            ]
        ) from None


Handler = Callable[[CaseFacts, Any, Command, datetime, StatutoryCalendar], tuple[CaseFacts, dict[str, Any]]]
_HANDLERS: dict[Action, Handler] = {}


def _handles(action: Action) -> Callable[[Handler], Handler]:
    def register_handler(function: Handler) -> Handler:
        _HANDLERS[action] = function
        return function

    return register_handler


def _refuse(message: str, code: str) -> DomainError:
    return DomainError(message, code=code)


@_handles(Action.ACCEPT)
def _accept(facts, payload, command, now, calendar):
    if facts.number is None and not command.assigned_number:
        raise ValueError("ACCEPT of an unnumbered case needs assigned_number")
    taking_over = facts.status is Status.ESCALATED
    new = replace(
        facts,
        status=Status.ACCEPTED,
        number=facts.number or command.assigned_number,
        accepted_at=facts.accepted_at or now,
    )
    return new, {"number": new.number, "taking_over": taking_over, "level": facts.level.value}


@_handles(Action.DECLINE)
def _decline(facts, payload, command, now, calendar):
    return replace(facts, status=Status.NOT_ACCEPTED), {"basis": payload.basis}


@_handles(Action.ROUTE)
def _route(facts, payload: RoutePayload, command, now, calendar):
    if facts.kind is Kind.ACCUSATION and payload.route is not Route.DISCIPLINE:
        raise _refuse("检举控告类事项应转纪检监察机关处理（第三十条）", "case.accusation_must_go_to_discipline")
    if facts.involves_litigation and payload.route is not Route.LITIGATION:
        raise _refuse("涉法涉诉事项应导入诉讼程序（诉访分离）", "case.litigation_must_route")
    new = replace(facts, status=Status.ROUTED_OUT, route=payload.route, routed_at=now)
    objection = deadlines.objection_due(calendar, now)
    return new, {
        "route": payload.route.value,
        "organ": payload.organ,
        "objection_last_day": objection.last_day.isoformat(),
    }


@_handles(Action.RETURN_MISROUTED)
def _return_misrouted(facts, payload, command, now, calendar):
    assert facts.routed_at is not None
    window = deadlines.objection_due(calendar, facts.routed_at)
    if window.is_overdue(now):
        raise _refuse(
            f"异议应在收到之日起5个工作日内提出（截止 {window.last_day.isoformat()}，第二十三条）",
            "case.window_closed",
        )
    return replace(facts, status=Status.ACCEPTED, route=None, routed_at=None), {}


@_handles(Action.ESCALATE)
def _escalate(facts, payload: EscalatePayload, command, now, calendar):
    next_level = facts.level.above()
    if next_level is None:
        raise _refuse("县级为本系统最高层级，无法继续上报", "case.no_higher_level")
    target = payload.to_level or next_level
    order = list(HandlingLevel)
    if order.index(target) <= order.index(facts.level):
        raise _refuse("只能向上一级上报", "case.invalid_escalation_target")
    if target is not next_level and not payload.rule:
        raise _refuse("越级上报须有规则依据（小事不出村、大事不出镇）", "case.level_skip_needs_rule")
    escalation = Escalation(facts.level, target, now, payload.rule)
    new = replace(
        facts,
        status=Status.ESCALATED,
        level=target,
        escalations=(*facts.escalations, escalation),
        level_entered_at=now,
    )
    return new, {"from_level": facts.level.value, "to_level": target.value, "rule": payload.rule}


@_handles(Action.REFER_DOWN)
def _refer_down(facts, payload: ReferDownPayload, command, now, calendar):
    order = list(HandlingLevel)
    if order.index(payload.to_level) >= order.index(facts.level):
        raise _refuse("只能交由下级办理", "case.invalid_referral_target")
    # Still registered: the lower level accepts or declines it, and the notice clock keeps
    # counting from the original receipt (Art. 22).
    new = replace(facts, level=payload.to_level, level_entered_at=now)
    return new, {"from_level": facts.level.value, "to_level": payload.to_level.value, "organ": payload.organ}


def _mediation_allowed(facts: CaseFacts) -> None:
    if facts.involves_litigation:
        raise _refuse("涉法涉诉事项不适用人民调解", "case.mediation_not_applicable")
    if facts.administrative_dispute:
        raise _refuse("行政争议不适用人民调解", "case.mediation_not_applicable")
    if facts.kind is Kind.ACCUSATION:
        raise _refuse("检举控告类事项不适用调解", "case.mediation_not_applicable")


@_handles(Action.START_MEDIATION)
def _start_mediation(facts, payload: StartMediationPayload, command, now, calendar):
    _mediation_allowed(facts)
    unknown = sorted(set(payload.consenting_party_ids) - set(facts.party_ids))
    if unknown:
        raise InvalidInput([Issue("data.consenting_party_ids", "party.unknown", "同意调解的当事人不属于本案")])
    missing = sorted(set(facts.party_ids) - set(payload.consenting_party_ids))
    if missing:
        raise _refuse("人民调解须经各方当事人同意（人民调解法第十七条）", "case.consent_missing")
    new = replace(facts, status=Status.IN_MEDIATION, mediation_started_at=now)
    target = deadlines.mediation_target(calendar, now)
    return new, {
        "consenting_party_ids": payload.consenting_party_ids,
        "target_last_day": target.last_day.isoformat(),
    }


@_handles(Action.REFUSE_MEDIATION)
def _refuse_mediation(facts, payload: RefuseMediationPayload, command, now, calendar):
    # A mediation that may not take place cannot be refused either: MEDIATION_REFUSED may
    # be closed, which would let an accusation or a 涉法涉诉 item skip its required route.
    _mediation_allowed(facts)
    if payload.party_id not in facts.party_ids:
        raise InvalidInput([Issue("data.party_id", "party.unknown", "该当事人不属于本案")])
    return replace(facts, status=Status.MEDIATION_REFUSED), {"party_id": payload.party_id}


@_handles(Action.RECORD_SESSION)
def _record_session(facts, payload: SessionPayload, command, now, calendar):
    return facts, payload.model_dump()


@_handles(Action.FAIL_MEDIATION)
def _fail_mediation(facts, payload: FailMediationPayload, command, now, calendar):
    return replace(facts, status=Status.MEDIATION_FAILED), {"routes_told": payload.routes_told}


@_handles(Action.REACH_AGREEMENT)
def _reach_agreement(facts, payload: AgreementPayload, command, now, calendar):
    if payload.form == "oral" and (payload.creates_obligations or payload.party_requests_written):
        raise _refuse(
            "协议涉及民事权利义务或当事人要求时，应制作书面调解协议（人民调解法第二十八条）",
            "case.written_agreement_required",
        )
    data = payload.model_dump()
    # A new agreement (after a failed one was not performed) starts with a clean slate: the
    # old agreement's signatures, performance and judicial confirmation are not its own.
    facts = replace(
        facts,
        agreement_effective_at=None,
        signed_party_ids=(),
        mediator_signed=False,
        committee_sealed=False,
        performance=None,
        judicial_confirmation_requested_at=None,
    )
    if payload.form == "oral":
        # An oral agreement takes effect the day it is reached (Art. 30).
        new = replace(
            facts,
            status=Status.AGREEMENT_EFFECTIVE,
            agreement_form="oral",
            agreement_reached_at=now,
            agreement_effective_at=now,
        )
    else:
        new = replace(
            facts,
            status=Status.AGREEMENT_PENDING,
            agreement_form="written",
            agreement_reached_at=now,
        )
    return new, data


@_handles(Action.SIGN_AGREEMENT)
def _sign_agreement(facts, payload: SignPayload, command, now, calendar):
    unknown = sorted(set(payload.party_ids) - set(facts.party_ids))
    if unknown:
        raise InvalidInput([Issue("data.party_ids", "party.unknown", "签名的当事人不属于本案")])
    signed = tuple(sorted(set(facts.signed_party_ids) | set(payload.party_ids)))
    new = replace(
        facts,
        signed_party_ids=signed,
        mediator_signed=facts.mediator_signed or payload.mediator_signed,
        committee_sealed=facts.committee_sealed or payload.committee_sealed,
    )
    # A written agreement takes effect once every party has signed, sealed or
    # fingerprinted it, the mediator has signed it and the committee's seal is on it (Art. 29).
    complete = set(new.party_ids) <= set(signed) and new.mediator_signed and new.committee_sealed
    if complete:
        new = replace(new, status=Status.AGREEMENT_EFFECTIVE, agreement_effective_at=now)
    return new, {
        "party_ids": payload.party_ids,
        "mediator_signed": payload.mediator_signed,
        "committee_sealed": payload.committee_sealed,
        "effective": complete,
    }


@_handles(Action.FOLLOW_UP)
def _follow_up(facts, payload: FollowUpPayload, command, now, calendar):
    return facts, payload.model_dump()


@_handles(Action.CONFIRM_PERFORMANCE)
def _confirm_performance(facts, payload: FollowUpPayload, command, now, calendar):
    return replace(facts, performance="performed"), payload.model_dump()


@_handles(Action.REPORT_NONPERFORMANCE)
def _report_nonperformance(facts, payload: FollowUpPayload, command, now, calendar):
    # Failure to perform reopens the dispute: it is handled as a failed mediation, which
    # is itself an escalation trigger.
    new = replace(facts, status=Status.MEDIATION_FAILED, performance="not_performed")
    return new, payload.model_dump()


@_handles(Action.REQUEST_JUDICIAL_CONFIRMATION)
def _request_judicial_confirmation(facts, payload, command, now, calendar):
    if facts.judicial_confirmation_requested_at is not None:
        raise _refuse("已申请司法确认，不能重复申请", "case.already_requested")
    if facts.agreement_form != "written":
        raise _refuse("司法确认须以书面调解协议申请", "case.written_agreement_required")
    assert facts.agreement_effective_at is not None
    window = deadlines.judicial_confirmation_window(calendar, facts.agreement_effective_at)
    if window.is_overdue(now):
        raise _refuse(
            f"应自调解协议生效之日起三十日内申请司法确认（截止 {window.last_day.isoformat()}）",
            "case.window_closed",
        )
    return replace(facts, judicial_confirmation_requested_at=now), {}


@_handles(Action.START_HANDLING)
def _start_handling(facts, payload, command, now, calendar):
    if facts.kind is Kind.ACCUSATION:
        raise _refuse("检举控告类事项应转纪检监察机关处理（第三十条）", "case.accusation_must_go_to_discipline")
    if facts.involves_litigation:
        raise _refuse("涉法涉诉事项应导入诉讼程序（诉访分离）", "case.litigation_must_route")
    assert facts.accepted_at is not None
    new = replace(facts, status=Status.IN_HANDLING, handling_started_at=facts.handling_started_at or now)
    due = deadlines.handling_due(calendar, facts.accepted_at, facts.extension_days or 0)
    return new, {"due_last_day": due.last_day.isoformat(), "provisional": due.provisional}


@_handles(Action.EXTEND)
def _extend(facts, payload: ExtendPayload, command, now, calendar):
    if facts.extension_days is not None:
        raise _refuse("办理期限只能延长一次（第三十四条）", "case.extension_used")
    assert facts.accepted_at is not None
    current = deadlines.handling_due(calendar, facts.accepted_at)
    if current.is_overdue(now):
        raise _refuse("办理期限已届满，不能再延期", "case.window_closed")
    due = deadlines.handling_due(calendar, facts.accepted_at, payload.days)
    new = replace(
        facts,
        extension_days=payload.days,
        extension_approved_by=payload.approved_by,
        extension_reason=(command.reason or "").strip() or None,
        extension_approved_at=now,
    )
    return new, {
        "days": payload.days,
        "approved_by": payload.approved_by,
        "due_last_day": due.last_day.isoformat(),
        "provisional": due.provisional,
    }


def _reply_data(payload: ReplyPayload, now: datetime) -> tuple[datetime, dict[str, Any]]:
    delivered_at = payload.delivered_at or now
    if delivered_at.tzinfo is None:
        raise InvalidInput([Issue("data.delivered_at", "datetime.naive", "送达时间须带时区")])
    if delivered_at > now:
        raise InvalidInput([Issue("data.delivered_at", "datetime.future", "送达时间不能晚于当前时间")])
    return delivered_at, payload.model_dump(exclude={"delivered_at"}) | {"delivered_at": delivered_at.isoformat()}


@_handles(Action.REPLY)
def _reply(facts, payload: ReplyPayload, command, now, calendar):
    delivered_at, data = _reply_data(payload, now)
    new = replace(
        facts,
        status=Status.REPLIED,
        reply_outcome=payload.outcome,
        replied_at=now,
        reply_delivered_at=delivered_at,
        # An evaluation given earlier (e.g. of a mediation agreement) is not one of this
        # reply: it must not let the case close before the review window runs out.
        evaluation=None,
    )
    window = deadlines.review_request_window(calendar, delivered_at)
    return new, data | {"review_window_last_day": window.last_day.isoformat()}


@_handles(Action.EVALUATE)
def _evaluate(facts, payload: EvaluatePayload, command, now, calendar):
    return replace(facts, evaluation=payload.evaluation), {"evaluation": payload.evaluation.value}


@dataclass(frozen=True)
class _ReviewRequest:
    stage: Literal["review", "rereview"]
    name_zh: str
    contested_zh: str
    article: str
    window: str  # the ClockKind of the petitioner's window


_REVIEW_REQUESTS = {
    Action.REQUEST_REVIEW: _ReviewRequest("review", "复查", "信访处理意见", "第三十五条", "review_request"),
    Action.REQUEST_REREVIEW: _ReviewRequest("rereview", "复核", "复查意见", "第三十六条", "rereview_request"),
}


def _review_received_at(payload: RequestReviewPayload, delivered_at: datetime, now: datetime) -> datetime:
    received_at = payload.received_at or now
    if received_at.tzinfo is None:
        raise InvalidInput([Issue("data.received_at", "datetime.naive", "收到申请的时间须带时区")])
    if received_at > now:
        raise InvalidInput([Issue("data.received_at", "datetime.future", "收到申请的时间不能晚于当前时间")])
    if received_at < delivered_at:
        message = "收到申请的时间不能早于意见送达的时间"
        raise InvalidInput([Issue("data.received_at", "datetime.before_delivery", message)])
    return received_at


def _request_review_stage(
    facts: CaseFacts,
    payload: RequestReviewPayload,
    command: Command,
    now: datetime,
    request: _ReviewRequest,
    delivered_at: datetime,
    window: deadlines.Due,
) -> tuple[dict[str, Any], dict[str, Any], datetime]:
    """What a 复查 or 复核 request changes: its window checked, the case moved to the organ."""
    received_at = _review_received_at(payload, delivered_at, now)
    if window.is_overdue(received_at):
        raise DomainError(
            f"{request.name_zh}申请已超过法定期限：{request.contested_zh}于{local_date(delivered_at).isoformat()}送达，"
            f"应自收到之日起三十日内提出（截止{window.last_day.isoformat()}），"
            f"本申请于{local_date(received_at).isoformat()}收到（《信访工作条例》{request.article}）",
            code="case.window_closed",
            data={
                "window": request.window,
                "delivered_on": local_date(delivered_at).isoformat(),
                "last_day": window.last_day.isoformat(),
                "received_on": local_date(received_at).isoformat(),
                "provisional": window.provisional,
            },
        )
    holder = command.review_holder
    order = list(HandlingLevel)
    if holder is None:
        # No routing given (facts-only callers): the next level up; above the county the
        # organ is outside this deployment and the county keeps the file.
        level = facts.level.above() or facts.level
    elif holder.stage != request.stage or order.index(holder.level) < order.index(facts.level):
        raise ValueError(f"a {holder.stage} holder at {holder.level} cannot take a {request.stage} of this case")
    else:
        level = holder.level
    changes: dict[str, Any] = {
        "level": level,
        "level_entered_at": received_at if level is not facts.level else facts.level_entered_at,
        f"{request.stage}_holder": holder,
    }
    data: dict[str, Any] = {"to_level": level.value}
    if payload.received_at is not None:
        data["received_at"] = received_at.isoformat()
    if holder is not None:
        data |= {
            "organ": holder.organ,
            "organ_level": holder.organ_level,
            "node_code": holder.node_code,
            "node_name": holder.node_name,
            "contested_level": holder.contested_level,
            "rule": holder.rule,
            "request_last_day": window.last_day.isoformat(),
        }
    return changes, data, received_at


def _routing_summary(holder: ReviewHolder | None, request: _ReviewRequest, due: deadlines.Due) -> dict[str, Any]:
    if holder is None:
        return {}
    return {"summary_zh": f"{holder.summary_zh}；应于{due.last_day.isoformat()}前作出{request.name_zh}意见"}


@_handles(Action.REQUEST_REVIEW)
def _request_review(facts, payload: RequestReviewPayload, command, now, calendar):
    assert facts.reply_delivered_at is not None
    request = _REVIEW_REQUESTS[Action.REQUEST_REVIEW]
    window = deadlines.review_request_window(calendar, facts.reply_delivered_at)
    changes, data, received_at = _request_review_stage(
        facts, payload, command, now, request, facts.reply_delivered_at, window
    )
    new = replace(facts, status=Status.REVIEW_REQUESTED, review_requested_at=received_at, **changes)
    due = deadlines.review_decision_due(calendar, received_at)
    data |= {"decision_last_day": due.last_day.isoformat()} | _routing_summary(new.review_holder, request, due)
    return new, data


@_handles(Action.DECIDE_REVIEW)
def _decide_review(facts, payload: ReplyPayload, command, now, calendar):
    delivered_at, data = _reply_data(payload, now)
    new = replace(
        facts,
        status=Status.REVIEWED,
        review_outcome=payload.outcome,
        review_delivered_at=delivered_at,
        evaluation=None,
    )
    window = deadlines.rereview_request_window(calendar, delivered_at)
    return new, data | {"rereview_window_last_day": window.last_day.isoformat()}


@_handles(Action.REQUEST_REREVIEW)
def _request_rereview(facts, payload: RequestReviewPayload, command, now, calendar):
    assert facts.review_delivered_at is not None
    request = _REVIEW_REQUESTS[Action.REQUEST_REREVIEW]
    window = deadlines.rereview_request_window(calendar, facts.review_delivered_at)
    changes, data, received_at = _request_review_stage(
        facts, payload, command, now, request, facts.review_delivered_at, window
    )
    new = replace(facts, status=Status.REREVIEW_REQUESTED, rereview_requested_at=received_at, **changes)
    due = deadlines.rereview_decision_due(calendar, received_at)
    data |= {"decision_last_day": due.last_day.isoformat()} | _routing_summary(new.rereview_holder, request, due)
    return new, data


@_handles(Action.RECORD_HEARING)
def _record_hearing(facts, payload: HearingPayload, command, now, calendar):
    new = replace(facts, hearing_days=facts.hearing_days + payload.days)
    assert facts.rereview_requested_at is not None
    due = deadlines.rereview_decision_due(calendar, facts.rereview_requested_at, new.hearing_days)
    return new, {"days": payload.days, "decision_last_day": due.last_day.isoformat()}


@_handles(Action.DECIDE_REREVIEW)
def _decide_rereview(facts, payload: ReplyPayload, command, now, calendar):
    delivered_at, data = _reply_data(payload, now)
    new = replace(
        facts,
        status=Status.FINAL,
        rereview_outcome=payload.outcome,
        rereview_delivered_at=delivered_at,
        evaluation=None,
    )
    return new, data


@_handles(Action.RECORD_VISIT)
def _record_visit(facts, payload: VisitPayload, command, now, calendar):
    return facts, payload.model_dump()


@_handles(Action.ADD_NOTE)
def _add_note(facts, payload: NotePayload, command, now, calendar):
    return facts, payload.model_dump()


_CONTENT_EVALUATIONS = frozenset({Evaluation.SATISFIED, Evaluation.BASICALLY_SATISFIED})


@_handles(Action.CLOSE)
def _close(facts, payload: ClosePayload, command, now, calendar):
    if facts.status is Status.AGREEMENT_EFFECTIVE and facts.performance != "performed":
        raise _refuse("调解协议履行完毕并回访确认后方可办结", "case.performance_unconfirmed")
    # A reply may be closed early only when the petitioner says they are content;
    # otherwise the review window must run out first, or the petitioner loses a right.
    window = None
    if facts.status is Status.REPLIED:
        assert facts.reply_delivered_at is not None
        window = deadlines.review_request_window(calendar, facts.reply_delivered_at)
    elif facts.status is Status.REVIEWED:
        assert facts.review_delivered_at is not None
        window = deadlines.rereview_request_window(calendar, facts.review_delivered_at)
    if window is not None and not window.is_overdue(now) and facts.evaluation not in _CONTENT_EVALUATIONS:
        raise _refuse(
            f"申请期限尚未届满（截止 {window.last_day.isoformat()}），信访人未表示满意前不能办结",
            "case.window_open",
        )
    return replace(facts, status=Status.CLOSED, closed_at=now), {"resolution": payload.resolution}


assert set(_HANDLERS) == set(PAYLOADS) - {Action.REGISTER}, "every action needs a handler"
assert set(ALLOWED_FROM) == set(_HANDLERS), "every action needs its allowed sources"


# ---------------------------------------------------------------- clocks by status


class ClockKind(StrEnum):
    NOTICE = "notice"
    DISPATCH = "dispatch"
    OBJECTION = "objection"
    MEDIATION = "mediation"
    JUDICIAL_CONFIRMATION = "judicial_confirmation"
    HANDLING = "handling"
    REVIEW_REQUEST = "review_request"
    REVIEW_DECISION = "review_decision"
    REREVIEW_REQUEST = "rereview_request"
    REREVIEW_DECISION = "rereview_decision"


CLOCK_NAMES_ZH = {
    ClockKind.NOTICE: "书面告知期限（15日）",
    ClockKind.DISPATCH: "转送交办期限（15日）",
    ClockKind.OBJECTION: "转送异议期限（5个工作日）",
    ClockKind.MEDIATION: "调解期限（一个月，参考）",
    ClockKind.JUDICIAL_CONFIRMATION: "司法确认申请期限（30日）",
    ClockKind.HANDLING: "办理期限（60日，可延长30日）",
    ClockKind.REVIEW_REQUEST: "复查申请期限（30日）",
    ClockKind.REVIEW_DECISION: "复查办理期限（30日）",
    ClockKind.REREVIEW_REQUEST: "复核申请期限（30日）",
    ClockKind.REREVIEW_DECISION: "复核办理期限（30日）",
}

# Windows that belong to the petitioner: when they run out nothing is late, the case is
# merely ready to close. Only the others count as duties with a deadline.
PETITIONER_WINDOWS = frozenset(
    {ClockKind.REVIEW_REQUEST, ClockKind.REREVIEW_REQUEST, ClockKind.JUDICIAL_CONFIRMATION, ClockKind.OBJECTION}
)


@dataclass(frozen=True)
class RunningClock:
    kind: ClockKind
    started_at: datetime
    due: deadlines.Due

    @property
    def is_duty(self) -> bool:
        return self.kind not in PETITIONER_WINDOWS


def running_clocks(facts: CaseFacts, calendar: StatutoryCalendar) -> list[RunningClock]:
    """The statutory clocks that run in the case's current status."""
    clocks: list[RunningClock] = []

    def add(kind: ClockKind, started_at: datetime | None, due_of: Callable[..., deadlines.Due], *extra: Any):
        if started_at is not None:
            clocks.append(RunningClock(kind, started_at, due_of(calendar, started_at, *extra)))

    status = facts.status
    petition = facts.kind in PETITION_KINDS
    if status is Status.REGISTERED and petition:
        add(ClockKind.NOTICE, facts.registered_at, deadlines.notice_due)
    elif status is Status.ACCEPTED and petition:
        # Art. 22: the 15 days to dispatch run from receipt, not from acceptance.
        add(ClockKind.DISPATCH, facts.registered_at, deadlines.dispatch_due)
    elif status is Status.ROUTED_OUT:
        add(ClockKind.OBJECTION, facts.routed_at, deadlines.objection_due)
    elif status is Status.IN_MEDIATION:
        add(ClockKind.MEDIATION, facts.mediation_started_at, deadlines.mediation_target)
        if facts.handling_started_at is not None:
            # Mediating during handling (Art. 33) does not stop the 60-day clock.
            add(ClockKind.HANDLING, facts.accepted_at, deadlines.handling_due, facts.extension_days or 0)
    elif status is Status.AGREEMENT_EFFECTIVE and facts.agreement_form == "written":
        if facts.judicial_confirmation_requested_at is None:
            add(ClockKind.JUDICIAL_CONFIRMATION, facts.agreement_effective_at, deadlines.judicial_confirmation_window)
    elif status is Status.IN_HANDLING:
        add(ClockKind.HANDLING, facts.accepted_at, deadlines.handling_due, facts.extension_days or 0)
    elif status is Status.REPLIED:
        add(ClockKind.REVIEW_REQUEST, facts.reply_delivered_at, deadlines.review_request_window)
    elif status is Status.REVIEW_REQUESTED:
        add(ClockKind.REVIEW_DECISION, facts.review_requested_at, deadlines.review_decision_due)
    elif status is Status.REVIEWED:
        add(ClockKind.REREVIEW_REQUEST, facts.review_delivered_at, deadlines.rereview_request_window)
    elif status is Status.REREVIEW_REQUESTED:
        add(
            ClockKind.REREVIEW_DECISION,
            facts.rereview_requested_at,
            deadlines.rereview_decision_due,
            facts.hearing_days,
        )
    return clocks


def next_clock(facts: CaseFacts, calendar: StatutoryCalendar) -> RunningClock | None:
    clocks = running_clocks(facts, calendar)
    return min(clocks, key=lambda clock: clock.due.ends_at) if clocks else None


def next_duty_clock(facts: CaseFacts, calendar: StatutoryCalendar) -> RunningClock | None:
    """The earliest deadline someone must meet; petitioner windows are not duties."""
    duties = [clock for clock in running_clocks(facts, calendar) if clock.is_duty]
    return min(duties, key=lambda clock: clock.due.ends_at) if duties else None
