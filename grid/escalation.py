"""The escalation engine: (case, now, policy, calendar) → decisions.

:func:`evaluate` looks at one case (a :class:`CaseView`) at one instant and returns what
is due: escalations (time, risk and failure triggers), light changes of every running
clock (the local stage target and the statutory clocks, each lit on its own; the case's
light is the most severe), notifications, 督办 and reminders. It reads no clock and
touches no storage; the sweeper applies the decisions (:func:`apply`) and records their
trigger keys, which it feeds back as ``CaseView.fired``.

How time works — the property the sweeper relies on: every decision carries ``at``, the
instant its trigger became due (never later than ``now``). ``evaluate`` replays the
case's future as a sequence of events in the order of ``at``, applying each to a copy of
the case before looking for the next, so a case that is overdue by two stages gets both
steps in one call. Because an event's ``at`` and whether it is pending depend only on the
case (never on ``now``), evaluating at t1, applying, then evaluating at t2 yields the same
decisions — same keys, same ``at`` — as evaluating once at t2. An automatic escalation
therefore enters the new level at its ``at`` (``CaseFacts.level_entered_at``), not when a
sweep got round to it. docs/escalation-policy.md has the whole contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from functools import cached_property
from math import ceil
from typing import Any

from grid import deadlines
from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import HANDLING_LEVEL_NAMES_ZH, Case, HandlingLevel, Kind, Risk
from grid.deadlines import Due, Light
from grid.errors import DomainError
from grid.lifecycle import (
    ALLOWED_FROM,
    CLOCK_NAMES_ZH,
    Action,
    Actor,
    CaseFacts,
    Command,
    Evaluation,
    RunningClock,
    Status,
    TimelineEntry,
    decide,
    running_clocks,
)
from grid.policy import (
    CONDITION_NAMES_ZH,
    DAY_UNIT_NAMES_ZH,
    FAILURE_NAMES_ZH,
    STAGE_CLOCK,
    Complexity,
    Condition,
    DayUnit,
    Failure,
    NotifyEvent,
    Policy,
    Recipient,
    ReviewOrgan,
    ReviewRoute,
)

ENGINE_ACTOR = Actor(None, "系统（上报规则）")

# Statuses in which the level holding the case owes progress: its stage target runs. Later
# statuses (a reply, a review) run on statutory clocks alone; an effective agreement or a
# case routed out is no longer the level's to resolve.
STAGE_STATUSES = frozenset(
    {
        Status.REGISTERED,
        Status.ACCEPTED,
        Status.ESCALATED,
        Status.IN_MEDIATION,
        Status.MEDIATION_REFUSED,
        Status.MEDIATION_FAILED,
        Status.IN_HANDLING,
        Status.AGREEMENT_PENDING,
    }
)
# Only a level that holds the case can send it up (the lifecycle refuses the rest, e.g. a
# case escalated and not yet accepted): such a case turns red and is supervised instead.
ESCALATABLE = ALLOWED_FROM[Action.ESCALATE]
assert ESCALATABLE <= STAGE_STATUSES

SEVERITY = {Light.GREEN: 0, Light.YELLOW: 1, Light.RED: 2}
LIGHT_NAMES_ZH = {Light.GREEN: "绿灯", Light.YELLOW: "黄灯", Light.RED: "红灯"}

# Timeline entries the sweeper writes besides the lifecycle's own "escalate".
RELIGHT_ENTRY = "relight"
SUPERVISION_ENTRY = "open_supervision"
ENTRY_NAMES_ZH = {RELIGHT_ENTRY: "期限预警灯变化", SUPERVISION_ENTRY: "启动督办"}

# Notify events beyond the policy's [notify] table (their recipients come from [dissatisfaction]).
REVIEW_REQUESTED = "review_requested"
REREVIEW_REQUESTED = "rereview_requested"
DISSATISFIED = "dissatisfied"

_LEVELS = list(HandlingLevel)
_ABOVE = {level: level.above() for level in HandlingLevel}
_MAX_STEPS = 500


class StaleDecision(DomainError):
    """The case changed since the decision was made: evaluate again."""

    code = "escalation.stale_decision"


def _stamp(at: datetime) -> str:
    return at.astimezone(CHINA_TZ).isoformat()


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {at!r}")


def _level_zh(level: HandlingLevel) -> str:
    return HANDLING_LEVEL_NAMES_ZH[level]


# ---------------------------------------------------------------- what the engine sees


@dataclass(frozen=True)
class CaseView:
    """A frozen snapshot of one case: its lifecycle facts plus what lives beside them.

    Build it with :func:`case_view` (from a ``Case`` row) or :meth:`build`. ``clocks`` are
    the statutory duty clocks running in the current status, computed with the calendar
    given to ``build``: evaluate with the same calendar.
    """

    case_id: str
    facts: CaseFacts
    category: str
    risk: Risk
    is_collective: bool
    violence_risk: bool
    cadres_involved: bool
    multi_village: bool
    # The case's own complexity when it records one; None lets the policy derive it from
    # the category and the flags (grid.cases.Case has no such column yet).
    complexity: Complexity | None
    assigned_to: str | None
    baoan_leader_id: str | None
    # When a person last changed the case: state triggers (risk, failure) are due from then.
    changed_at: datetime
    fired: frozenset[str]
    clocks: tuple[RunningClock, ...]

    @classmethod
    def build(
        cls,
        facts: CaseFacts,
        calendar: StatutoryCalendar,
        *,
        case_id: str,
        changed_at: datetime,
        category: str = "other",
        risk: Risk = Risk.LOW,
        is_collective: bool = False,
        violence_risk: bool = False,
        cadres_involved: bool = False,
        multi_village: bool = False,
        complexity: Complexity | None = None,
        assigned_to: str | None = None,
        baoan_leader_id: str | None = None,
        fired: Iterable[str] = (),
    ) -> CaseView:
        _require_aware(changed_at, "changed_at")
        return cls(
            case_id=case_id,
            facts=facts,
            category=category,
            risk=Risk(risk),
            is_collective=is_collective,
            violence_risk=violence_risk,
            cadres_involved=cadres_involved,
            multi_village=multi_village,
            complexity=complexity,
            assigned_to=assigned_to,
            baoan_leader_id=baoan_leader_id,
            changed_at=changed_at,
            fired=frozenset(fired),
            clocks=_duty_clocks(facts, calendar),
        )

    def advanced(self, facts: CaseFacts, keys: Iterable[str], calendar: StatutoryCalendar) -> CaseView:
        """This case after the engine applied a decision: new facts, more fired keys."""
        clocks = self.clocks if facts is self.facts else _duty_clocks(facts, calendar)
        return replace(self, facts=facts, fired=self.fired | frozenset(keys), clocks=clocks)

    @property
    def status(self) -> Status:
        return self.facts.status

    @property
    def level(self) -> HandlingLevel:
        return self.facts.level

    @property
    def kind(self) -> Kind:
        return self.facts.kind

    @cached_property
    def level_entered_at(self) -> datetime:
        if self.facts.level_entered_at is not None:
            return self.facts.level_entered_at
        # Facts stored before the field was kept: the last move up, or registration (a
        # review request is taken as a move, as it was below the county).
        moves = [self.facts.registered_at, *(escalation.at for escalation in self.facts.escalations)]
        moves += [at for at in (self.facts.review_requested_at, self.facts.rereview_requested_at) if at]
        return max(moves)

    @property
    def mediation_outcome(self) -> str | None:
        return {
            Status.MEDIATION_FAILED: "failed",
            Status.MEDIATION_REFUSED: "refused",
            Status.AGREEMENT_PENDING: "agreement",
            Status.AGREEMENT_EFFECTIVE: "agreement",
        }.get(self.status)

    @cached_property
    def conditions(self) -> frozenset[Condition]:
        flags = {
            Condition.HIGH_RISK: self.risk is Risk.HIGH,
            Condition.COLLECTIVE: self.is_collective,
            Condition.VIOLENCE_RISK: self.violence_risk,
            Condition.CADRES_INVOLVED: self.cadres_involved,
            Condition.MULTI_VILLAGE: self.multi_village,
        }
        return frozenset(condition for condition, present in flags.items() if present)


def _duty_clocks(facts: CaseFacts, calendar: StatutoryCalendar) -> tuple[RunningClock, ...]:
    return tuple(clock for clock in running_clocks(facts, calendar) if clock.is_duty)


def case_view(
    case: Case,
    facts: CaseFacts,
    calendar: StatutoryCalendar,
    *,
    fired: Iterable[str] = (),
    baoan_leader_id: str | None = None,
    complexity: Complexity | None = None,
    changed_at: datetime | None = None,
) -> CaseView:
    """The engine's view of a stored case; ``changed_at`` defaults to ``case.updated_at``."""
    return CaseView.build(
        facts,
        calendar,
        case_id=str(case.id),
        changed_at=changed_at or case.updated_at,
        category=case.category_code,
        risk=Risk(case.risk),
        is_collective=case.is_collective,
        violence_risk=case.violence_risk,
        cadres_involved=case.cadres_involved,
        multi_village=case.multi_village,
        complexity=complexity,
        assigned_to=str(case.assigned_to) if case.assigned_to else None,
        baoan_leader_id=baoan_leader_id,
        fired=fired,
    )


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True, kw_only=True)
class EngineDecision:
    rule_id: str
    policy_id: str
    policy_version: int
    # Unique per case and trigger occurrence: the sweeper records it and never acts twice.
    trigger_key: str
    # When the trigger became due (<= now): the state change takes effect as of then.
    at: datetime
    facts: dict[str, Any]
    reason_zh: str


@dataclass(frozen=True, kw_only=True)
class Escalate(EngineDecision):
    from_level: HandlingLevel
    to_level: HandlingLevel

    @property
    def skips_level(self) -> bool:
        return _LEVELS.index(self.to_level) - _LEVELS.index(self.from_level) > 1


@dataclass(frozen=True, kw_only=True)
class Relight(EngineDecision):
    clock: str  # "stage" or a grid.lifecycle.ClockKind value
    old: Light
    new: Light
    started_at: datetime
    last_day: date
    provisional: bool


@dataclass(frozen=True, kw_only=True)
class Notify(EngineDecision):
    event: str  # a NotifyEvent value, or review_requested / rereview_requested / dissatisfied
    recipients: tuple[Recipient, ...]
    # Past this instant the message is moot (a yellow warning once red): record, do not send.
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class OpenSupervision(EngineDecision):
    clock: str
    supervising_level: HandlingLevel
    red_since: datetime
    last_day: date
    reply_days: int
    reply_unit: DayUnit


@dataclass(frozen=True, kw_only=True)
class Remind(EngineDecision):
    clock: str
    lead_days: int
    last_day: date
    ends_at: datetime
    recipients: tuple[Recipient, ...]
    expires_at: datetime


def deliverable(decision: EngineDecision, now: datetime) -> bool:
    """Whether a notification or reminder is still worth sending at ``now``."""
    expires_at = getattr(decision, "expires_at", None)
    return expires_at is None or now < expires_at


# ---------------------------------------------------------------- clocks and lights


@dataclass(frozen=True)
class _Clock:
    name: str
    label_zh: str
    started_at: datetime
    due: Due
    share: Fraction
    rule_id: str
    statutory: bool
    # A stage clock whose overrun sends the case up instead of turning it red.
    escalates: bool
    details: dict[str, Any]

    @cached_property
    def instance(self) -> str:
        return f"{self.name}:{_stamp(self.started_at)}:{self.due.last_day.isoformat()}"

    @cached_property
    def red_at(self) -> datetime:
        return self.due.ends_at

    @cached_property
    def yellow_at(self) -> datetime | None:
        """The first instant ``grid.deadlines.light`` calls yellow (exact, as it is)."""
        span = (self.red_at - self.started_at) // timedelta(microseconds=1)
        if span <= 0:
            return None
        offset = ceil(Fraction(span) * self.share)
        instant = self.started_at + timedelta(microseconds=offset)
        return instant if instant < self.red_at else None

    def light(self, now: datetime) -> Light:
        return deadlines.light(now, self.started_at, self.due, self.share)


def _complexity(view: CaseView, policy: Policy) -> tuple[Complexity, str]:
    if view.complexity is not None:
        return view.complexity, "case"
    return policy.complexity.classify(view.category, view.conditions)


def _stage_clock(
    view: CaseView, policy: Policy, calendar: StatutoryCalendar, complexity: tuple[Complexity, str]
) -> _Clock | None:
    if view.status not in STAGE_STATUSES:
        return None
    complexity, source = complexity
    target = policy.target_for(view.level, complexity, view.kind)
    entered = view.level_entered_at
    return _Clock(
        name=STAGE_CLOCK,
        label_zh=target.label_zh,
        started_at=entered,
        due=target.due(calendar, entered),
        share=policy.yellow_share,
        rule_id=target.rule_id,
        statutory=False,
        escalates=view.status in ESCALATABLE and _ABOVE[view.level] is not None,
        details={
            "target_days": target.days,
            "target_unit": target.unit.value,
            "complexity": complexity.value,
            "complexity_source": source,
        },
    )


def _clocks(
    view: CaseView, policy: Policy, calendar: StatutoryCalendar, complexity: tuple[Complexity, str] | None = None
) -> list[_Clock]:
    clocks = [
        _Clock(
            name=clock.kind.value,
            label_zh=CLOCK_NAMES_ZH[clock.kind],
            started_at=clock.started_at,
            due=clock.due,
            share=policy.statutory_yellow_share(),
            rule_id=f"statutory.{clock.kind.value}",
            statutory=True,
            escalates=False,
            details={},
        )
        for clock in view.clocks
    ]
    stage = _stage_clock(view, policy, calendar, complexity or _complexity(view, policy))
    return [*clocks, stage] if stage else clocks


@dataclass(frozen=True)
class ClockLight:
    clock: str
    label_zh: str
    statutory: bool
    rule_id: str
    started_at: datetime
    due: Due
    light: Light


@dataclass(frozen=True)
class CaseLights:
    """Each running clock's light and the case's: the most severe of them."""

    overall: Light
    clocks: tuple[ClockLight, ...]


def case_lights(view: CaseView, now: datetime, policy: Policy, calendar: StatutoryCalendar) -> CaseLights:
    """The lights at ``now`` (for lists and the inbox); a stage overrun that escalates is red too."""
    _require_aware(now, "now")
    lights = tuple(
        ClockLight(
            clock.name, clock.label_zh, clock.statutory, clock.rule_id, clock.started_at, clock.due, clock.light(now)
        )
        for clock in _clocks(view, policy, calendar)
    )
    overall = max((item.light for item in lights), key=SEVERITY.__getitem__, default=Light.GREEN)
    return CaseLights(overall, lights)


def _recorded_light(fired: frozenset[str], clock: _Clock) -> Light:
    for light in (Light.RED, Light.YELLOW):
        if f"light:{clock.instance}:{light.value}" in fired:
            return light
    return Light.GREEN


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class _Event:
    at: datetime
    rank: tuple[int, ...]
    key: str
    fire: Callable[[], tuple[list[EngineDecision], CaseView]]

    @property
    def order(self) -> tuple[datetime, tuple[int, ...], str]:
        return (self.at, self.rank, self.key)


class _Engine:
    def __init__(
        self, view: CaseView, policy: Policy, calendar: StatutoryCalendar, previous: _Engine | None = None
    ) -> None:
        self.view = view
        self.policy = policy
        self.calendar = calendar
        if previous is not None and previous.view.facts is view.facts:
            # Only fired keys changed (a light, a reminder): the clocks are the same objects,
            # with their computed instants.
            self.complexity, self.clocks, self.stage = previous.complexity, previous.clocks, previous.stage
            return
        self.complexity = _complexity(view, policy)
        self.clocks = _clocks(view, policy, calendar, self.complexity)
        self.stage = next((clock for clock in self.clocks if clock.name == STAGE_CLOCK), None)

    def pending(self) -> list[_Event]:
        events: list[_Event] = []
        events += self._escalations()
        for clock in self.clocks:
            events += self._clock_events(clock)
        events += self._routing()
        return events

    # -- shared pieces of every decision

    def _common(self, rule_id: str, key: str, at: datetime) -> dict[str, Any]:
        return {
            "rule_id": rule_id,
            "policy_id": self.policy.id,
            "policy_version": self.policy.version,
            "trigger_key": key,
            "at": at.astimezone(CHINA_TZ),
        }

    def _snapshot(self, **extra: Any) -> dict[str, Any]:
        view = self.view
        complexity, source = self.complexity
        return {
            "status": view.status.value,
            "level": view.level.value,
            "level_entered_at": _stamp(view.level_entered_at),
            "kind": view.kind.value,
            "category": view.category,
            "complexity": complexity.value,
            "complexity_source": source,
            "risk": view.risk.value,
            "conditions": sorted(condition.value for condition in view.conditions),
            "changed_at": _stamp(view.changed_at),
            "policy": self.policy.label,
            **extra,
        }

    def _notify(self, event: str, cause_key: str, at: datetime, reason: str, recipients, expires_at=None) -> Notify:
        return Notify(
            **self._common(f"notify.{event}", f"notify:{event}:{cause_key}", at),
            facts=self._snapshot(cause=cause_key),
            reason_zh=reason,
            event=event,
            recipients=tuple(recipients),
            expires_at=expires_at,
        )

    # -- escalation

    def _escalations(self) -> list[_Event]:
        view = self.view
        above = _ABOVE[view.level]
        if view.status not in ESCALATABLE or above is None:
            return []
        events = []
        state_at = max(view.level_entered_at, view.changed_at)
        for trigger in self.policy.risk:
            if trigger.condition not in view.conditions:
                continue
            if _LEVELS.index(view.level) >= _LEVELS.index(trigger.to_level):
                continue
            step = trigger.to_level if trigger.at_once else above
            key = f"risk:{trigger.condition.value}:{step.value}"
            reason = (
                f"{CONDITION_NAMES_ZH[trigger.condition]}，依规则 {trigger.rule_id} 由{_level_zh(view.level)}"
                f"{'越级直接' if step is not above else ''}上报{_level_zh(step)}"
            )
            facts = {"condition": trigger.condition.value, "target_level": trigger.to_level.value}
            events.append(self._escalation_event(state_at, key, trigger.rule_id, step, reason, facts))
        failure = {
            Status.MEDIATION_FAILED: Failure.MEDIATION_FAILED,
            Status.MEDIATION_REFUSED: Failure.MEDIATION_REFUSED,
        }
        for trigger in self.policy.failure:
            if failure.get(view.status) is not trigger.failure or view.level not in trigger.levels:
                continue
            key = f"failure:{trigger.failure.value}:{view.level.value}"
            reason = (
                f"{FAILURE_NAMES_ZH[trigger.failure]}，依规则 {trigger.rule_id} 由{_level_zh(view.level)}"
                f"上报{_level_zh(above)}"
            )
            events.append(self._escalation_event(state_at, key, trigger.rule_id, above, reason, {}))
        stage = self.stage
        if stage is not None:
            key = f"time:{view.level.value}:{_stamp(stage.started_at)}"
            reason = (
                f"{stage.label_zh}已于{stage.due.last_day.isoformat()}届满，依规则 {stage.rule_id} "
                f"由{_level_zh(view.level)}上报{_level_zh(above)}"
            )
            facts = {**stage.details, "last_day": stage.due.last_day.isoformat(), "provisional": stage.due.provisional}
            at = max(stage.red_at, view.changed_at)
            events.append(self._escalation_event(at, key, stage.rule_id, above, reason, facts))
        return [event for event in events if event.key not in view.fired]

    def _escalation_event(self, at, key, rule_id, to_level, reason, facts) -> _Event:
        # Several triggers due at once: the one reaching highest goes first; the rest then
        # no longer apply (the case is at the new level, awaiting acceptance).
        rank = (0, -_LEVELS.index(to_level))

        def fire() -> tuple[list[EngineDecision], CaseView]:
            decision = Escalate(
                **self._common(rule_id, key, at),
                facts=self._snapshot(**facts),
                reason_zh=reason,
                from_level=self.view.level,
                to_level=to_level,
            )
            notify = self._notify(
                NotifyEvent.ESCALATED.value,
                key,
                at,
                f"案件已上报{_level_zh(to_level)}：{reason}",
                self.policy.notify[NotifyEvent.ESCALATED],
            )
            applied = apply(self.view.facts, decision, now=at, calendar=self.calendar)
            view = self.view.advanced(applied.facts, (key, notify.trigger_key), self.calendar)
            return [decision, notify], view

        return _Event(at, rank, key, fire)

    # -- lights, 督办, reminders

    def _clock_events(self, clock: _Clock) -> list[_Event]:
        fired = self.view.fired
        recorded = _recorded_light(fired, clock)
        events = []
        yellow_at = clock.yellow_at
        if recorded is Light.GREEN and yellow_at is not None:
            events.append(self._relight_event(clock, recorded, Light.YELLOW, yellow_at))
        if recorded is not Light.RED and not clock.escalates:
            events.append(self._relight_event(clock, recorded, Light.RED, clock.red_at))
        supervision = self.policy.supervision
        if recorded is Light.RED and clock.name in supervision.clocks:
            key = f"supervise:{clock.instance}"
            if key not in fired:
                events.append(self._supervision_event(clock, key))
        if recorded is not Light.RED:
            events += self._reminder_events(clock)
        return [event for event in events if event.key not in fired]

    def _relight_event(self, clock: _Clock, old: Light, new: Light, at: datetime) -> _Event:
        key = f"light:{clock.instance}:{new.value}"
        rank = (1,) if new is Light.RED else (2,)
        provisional = "（期限按周末推算，待节假日安排公布后重算）" if clock.due.provisional else ""
        if new is Light.RED:
            state = f"已超期（截止{clock.due.last_day.isoformat()}{provisional}）"
        else:
            state = (
                f"已用时{clock.share.numerator}/{clock.share.denominator}"
                f"（截止{clock.due.last_day.isoformat()}{provisional}）"
            )
        reason = f"{clock.label_zh}{state}，由{LIGHT_NAMES_ZH[old]}转为{LIGHT_NAMES_ZH[new]}"

        def fire() -> tuple[list[EngineDecision], CaseView]:
            decision = Relight(
                **self._common(clock.rule_id, key, at),
                facts=self._snapshot(
                    clock=clock.name,
                    started_at=_stamp(clock.started_at),
                    last_day=clock.due.last_day.isoformat(),
                    provisional=clock.due.provisional,
                    yellow_share=f"{clock.share.numerator}/{clock.share.denominator}",
                    **clock.details,
                ),
                reason_zh=reason,
                clock=clock.name,
                old=old,
                new=new,
                started_at=clock.started_at,
                last_day=clock.due.last_day,
                provisional=clock.due.provisional,
            )
            event = NotifyEvent.RED if new is Light.RED else NotifyEvent.YELLOW
            notify = self._notify(
                event.value,
                key,
                at,
                reason,
                self.policy.notify[event],
                expires_at=None if new is Light.RED else clock.red_at,
            )
            return [decision, notify], self.view.advanced(self.view.facts, (key, notify.trigger_key), self.calendar)

        return _Event(at, rank, key, fire)

    def _supervision_event(self, clock: _Clock, key: str) -> _Event:
        supervision = self.policy.supervision
        at = supervision.opens_at(self.calendar, clock.red_at)
        supervisor = _ABOVE[self.view.level] or self.view.level
        unit = DAY_UNIT_NAMES_ZH[supervision.unit]
        reply_unit = DAY_UNIT_NAMES_ZH[supervision.reply_unit]
        reason = (
            f"{clock.label_zh}超期（截止{clock.due.last_day.isoformat()}）红灯已持续"
            f"{supervision.after_red_days}{unit}，启动督办：由{_level_zh(supervisor)}督办，"
            f"被督办单位应于{supervision.reply_days}{reply_unit}内书面回复（《信访工作条例》第四十条）"
        )

        def fire() -> tuple[list[EngineDecision], CaseView]:
            decision = OpenSupervision(
                **self._common("supervision", key, at),
                facts=self._snapshot(
                    clock=clock.name,
                    clock_rule=clock.rule_id,
                    last_day=clock.due.last_day.isoformat(),
                    red_since=_stamp(clock.red_at),
                ),
                reason_zh=reason,
                clock=clock.name,
                supervising_level=supervisor,
                red_since=clock.red_at,
                last_day=clock.due.last_day,
                reply_days=supervision.reply_days,
                reply_unit=supervision.reply_unit,
            )
            notify = self._notify(
                NotifyEvent.SUPERVISION.value, key, at, reason, self.policy.notify[NotifyEvent.SUPERVISION]
            )
            return [decision, notify], self.view.advanced(self.view.facts, (key, notify.trigger_key), self.calendar)

        return _Event(at, (3,), key, fire)

    def _reminder_events(self, clock: _Clock) -> list[_Event]:
        reminders = self.policy.reminders
        instants = []
        for lead in reminders.lead_days:  # largest first, so instants ascend
            instant = datetime.combine(clock.due.last_day - timedelta(days=lead), time(reminders.hour), tzinfo=CHINA_TZ)
            if clock.started_at < instant < clock.red_at:
                instants.append((lead, instant))
        events = []
        for index, (lead, instant) in enumerate(instants):
            expires_at = instants[index + 1][1] if index + 1 < len(instants) else clock.red_at
            events.append(self._reminder_event(clock, lead, instant, expires_at))
        return events

    def _reminder_event(self, clock: _Clock, lead: int, at: datetime, expires_at: datetime) -> _Event:
        key = f"remind:{clock.instance}:{lead}"
        left = f"，还剩{lead}日" if lead else "，今日为最后一日"
        reason = f"{clock.label_zh}将于{clock.due.last_day.isoformat()}届满{left}"

        def fire() -> tuple[list[EngineDecision], CaseView]:
            decision = Remind(
                **self._common("reminders", key, at),
                facts=self._snapshot(
                    clock=clock.name, clock_rule=clock.rule_id, last_day=clock.due.last_day.isoformat()
                ),
                reason_zh=reason,
                clock=clock.name,
                lead_days=lead,
                last_day=clock.due.last_day,
                ends_at=clock.red_at,
                recipients=self.policy.notify[NotifyEvent.REMINDER],
                expires_at=expires_at,
            )
            return [decision], self.view.advanced(self.view.facts, (key,), self.calendar)

        return _Event(at, (4, -lead), key, fire)

    # -- 复查/复核 routing and dissatisfaction

    def _routing(self) -> list[_Event]:
        view, facts, policy = self.view, self.view.facts, self.policy
        events = []
        if view.status is Status.REVIEW_REQUESTED and facts.review_requested_at is not None:
            moved = view.level_entered_at == facts.review_requested_at
            organ = ReviewOrgan(view.level.value) if moved else ReviewOrgan.ABOVE_COUNTY
            route = policy.dissatisfaction.review[organ]
            events.append(self._route_event("review", route, facts.review_requested_at, "第三十五条"))
        if view.status is Status.REREVIEW_REQUESTED and facts.rereview_requested_at is not None:
            moved = view.level_entered_at == facts.rereview_requested_at and view.level is HandlingLevel.COUNTY
            organ = ReviewOrgan.COUNTY if moved else ReviewOrgan.ABOVE_COUNTY
            route = policy.dissatisfaction.rereview[organ]
            events.append(self._route_event("rereview", route, facts.rereview_requested_at, "第三十六条"))
        delivered = {
            Status.REPLIED: (facts.reply_delivered_at, "信访处理意见"),
            Status.REVIEWED: (facts.review_delivered_at, "复查意见"),
            Status.FINAL: (facts.rereview_delivered_at, "复核意见"),
        }.get(view.status)
        recipients = policy.dissatisfaction.on_dissatisfied
        if delivered and delivered[0] and facts.evaluation is Evaluation.DISSATISFIED and recipients:
            key = f"dissatisfied:{view.status.value}:{_stamp(delivered[0])}"
            at = max(delivered[0], view.changed_at)
            reason = f"信访人对{delivered[1]}表示不满意"

            def fire() -> tuple[list[EngineDecision], CaseView]:
                notify = Notify(
                    **self._common("dissatisfaction.on_dissatisfied", key, at),
                    facts=self._snapshot(evaluation=Evaluation.DISSATISFIED.value),
                    reason_zh=reason,
                    event=DISSATISFIED,
                    recipients=recipients,
                    expires_at=None,
                )
                return [notify], self.view.advanced(self.view.facts, (key,), self.calendar)

            events.append(_Event(at, (5,), key, fire))
        return [event for event in events if event.key not in view.fired]

    def _route_event(self, kind: str, route: ReviewRoute, requested_at: datetime, article: str) -> _Event:
        key = f"route:{kind}:{_stamp(requested_at)}"
        name = "复查" if kind == "review" else "复核"
        reason = f"信访人申请{name}，依法由上一级机关（{route.organ}）办理（《信访工作条例》{article}）"
        event = REVIEW_REQUESTED if kind == "review" else REREVIEW_REQUESTED

        def fire() -> tuple[list[EngineDecision], CaseView]:
            notify = Notify(
                **self._common(route.rule_id, key, requested_at),
                facts=self._snapshot(organ=route.organ, organ_level=route.organ_level.value),
                reason_zh=reason,
                event=event,
                recipients=route.notify,
                expires_at=None,
            )
            return [notify], self.view.advanced(self.view.facts, (key,), self.calendar)

        return _Event(requested_at, (5,), key, fire)


# ---------------------------------------------------------------- the public functions


def evaluate(view: CaseView, now: datetime, policy: Policy, calendar: StatutoryCalendar) -> list[EngineDecision]:
    """Everything due for this case by ``now`` that has not fired yet, in the order it fell due.

    Apply them in order (:func:`apply`) and record every ``trigger_key``; then evaluating
    again at the same ``now`` returns nothing.
    """
    _require_aware(now, "now")
    decisions: list[EngineDecision] = []
    engine: _Engine | None = None
    for _ in range(_MAX_STEPS):
        engine = _Engine(view, policy, calendar, engine)
        due = [event for event in engine.pending() if event.at <= now]
        if not due:
            return decisions
        fired, view = min(due, key=lambda event: event.order).fire()
        decisions += fired
    raise RuntimeError(f"escalation engine did not settle after {_MAX_STEPS} steps for case {view.case_id}")


def next_check_at(view: CaseView, policy: Policy, calendar: StatutoryCalendar) -> datetime | None:
    """The earliest instant at which :func:`evaluate` would return something for this case.

    None when nothing can happen without a person changing the case (the service must
    recompute it on every change). May be in the past: then something is due now.
    """
    pending = _Engine(view, policy, calendar).pending()
    return min((event.at for event in pending), default=None)


# ---------------------------------------------------------------- applying a decision


@dataclass(frozen=True)
class Applied:
    facts: CaseFacts
    entries: tuple[TimelineEntry, ...] = field(default_factory=tuple)


def _record(decision: EngineDecision, now: datetime) -> dict[str, Any]:
    return {
        "rule": decision.rule_id,
        "trigger_key": decision.trigger_key,
        "policy_id": decision.policy_id,
        "policy_version": decision.policy_version,
        "due_at": _stamp(decision.at),
        "applied_at": _stamp(now),
        "facts": decision.facts,
    }


def apply(
    facts: CaseFacts,
    decision: EngineDecision,
    *,
    now: datetime,
    calendar: StatutoryCalendar,
    actor: Actor = ENGINE_ACTOR,
) -> Applied:
    """The case's facts after a decision, and the timeline entries to append (Chinese reason).

    Escalate goes through the lifecycle (``decide``, action ``escalate``) and then sets
    ``level_entered_at`` to the decision's ``at``; Relight and OpenSupervision add a
    timeline entry; Notify and Remind change nothing here (the sweeper queues them when
    :func:`deliverable`). Raises :class:`StaleDecision` when the case no longer is where
    the decision saw it.
    """
    _require_aware(now, "now")
    if isinstance(decision, Escalate):
        if facts.level is not decision.from_level or facts.status not in ESCALATABLE:
            raise StaleDecision(
                "案件状态已变化，请重新评估",
                data={"trigger_key": decision.trigger_key, "status": facts.status.value, "level": facts.level.value},
            )
        command = Command(
            Action.ESCALATE,
            decision.reason_zh,
            {"to_level": decision.to_level.value, "rule": decision.rule_id},
        )
        result = decide(facts, command, now=now, actor=actor, calendar=calendar)
        [entry] = result.entries
        entry = replace(entry, data={**entry.data, **_record(decision, now)})
        return Applied(replace(result.facts, level_entered_at=decision.at), (entry,))
    if isinstance(decision, Relight | OpenSupervision):
        kind = RELIGHT_ENTRY if isinstance(decision, Relight) else SUPERVISION_ENTRY
        data = _record(decision, now)
        if isinstance(decision, Relight):
            data |= {"clock": decision.clock, "from": decision.old.value, "to": decision.new.value}
        else:
            data |= {
                "clock": decision.clock,
                "supervising_level": decision.supervising_level.value,
                "reply_days": decision.reply_days,
                "reply_unit": decision.reply_unit.value,
            }
        entry = TimelineEntry(
            kind=kind,
            at=now,
            actor_id=actor.user_id,
            actor_name=actor.name,
            reason=decision.reason_zh,
            from_status=facts.status,
            to_status=facts.status,
            data=data,
        )
        return Applied(facts, (entry,))
    return Applied(facts)


def fired_after(view: CaseView, decisions: Iterable[EngineDecision]) -> frozenset[str]:
    """The fired set to store once these decisions are applied."""
    return view.fired | frozenset(decision.trigger_key for decision in decisions)


def describe(decision: EngineDecision) -> Mapping[str, Any]:
    """A JSON-able description (for ``fengqiao escalate --at`` and logs)."""
    base = {
        "type": type(decision).__name__,
        "rule_id": decision.rule_id,
        "policy": f"{decision.policy_id}@{decision.policy_version}",
        "trigger_key": decision.trigger_key,
        "at": _stamp(decision.at),
        "reason_zh": decision.reason_zh,
    }
    if isinstance(decision, Escalate):
        base |= {"from_level": decision.from_level.value, "to_level": decision.to_level.value}
    elif isinstance(decision, Relight):
        base |= {"clock": decision.clock, "from": decision.old.value, "to": decision.new.value}
    elif isinstance(decision, Notify | Remind):
        base |= {"recipients": [recipient.value for recipient in decision.recipients]}
    elif isinstance(decision, OpenSupervision):
        base |= {"clock": decision.clock, "supervising_level": decision.supervising_level.value}
    return base
