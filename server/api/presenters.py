"""Turn service results into response schemas."""

from __future__ import annotations

from datetime import datetime

from grid.calendar import StatutoryCalendar
from grid.cases import Case, CaseEvent, Party
from grid.deadlines import handling_due, light
from grid.extensions import ENTRY_NAMES_ZH as EXTENSION_ENTRY_NAMES_ZH
from grid.lifecycle import (
    ACTION_NAMES_ZH,
    CLOCK_NAMES_ZH,
    STATUS_NAMES_ZH,
    Action,
    CaseFacts,
    Status,
    allowed_actions,
    next_duty_clock,
)
from grid.people import READ_SCOPE_ACTIONS, ROLE_ACTIONS
from grid.recusals import ASSIGNMENT_NAMES_ZH
from grid.recusals import ENTRY_NAMES_ZH as RECUSAL_ENTRY_NAMES_ZH
from grid.supervision import ENTRY_NAMES_ZH as SUPERVISION_ENTRY_NAMES_ZH
from server.principal import Principal
from server.schemas.cases import (
    CaseFlags,
    CaseRead,
    CaseSummary,
    DeadlineRead,
    EscalationRead,
    Location,
    PartyRead,
    TimelineEntryRead,
)
from server.schemas.oversight import ExtensionGrantRead


def deadline_of(facts: CaseFacts, calendar: StatutoryCalendar, now: datetime) -> DeadlineRead | None:
    clock = next_duty_clock(facts, calendar)
    if clock is None:
        return None
    return DeadlineRead(
        kind=clock.kind.value,
        name=CLOCK_NAMES_ZH[clock.kind],
        started_at=clock.started_at,
        last_day=clock.due.last_day,
        ends_at=clock.due.ends_at,
        provisional=clock.due.provisional,
        light=light(now, clock.started_at, clock.due).value,
    )


def _summary_fields(case: Case, facts: CaseFacts, calendar: StatutoryCalendar, now: datetime) -> dict:
    return {
        "id": case.id,
        "number": case.number,
        "title": case.title,
        "kind": case.kind,
        "category": case.category_code,
        "channel": case.channel,
        "status": case.status,
        "status_name": STATUS_NAMES_ZH[Status(case.status)],
        "level": case.level,
        "risk": case.risk,
        "is_collective": case.is_collective,
        "village_code": case.village_code,
        "grid_code": case.grid_code,
        "registered_at": case.registered_at,
        "updated_at": case.updated_at,
        "version": case.version,
        "deadline": deadline_of(facts, calendar, now),
    }


def case_summary(case: Case, calendar: StatutoryCalendar, now: datetime) -> CaseSummary:
    return CaseSummary(**_summary_fields(case, CaseFacts.from_json(case.lifecycle), calendar, now))


def party_read(party: Party) -> PartyRead:
    return PartyRead(
        id=party.id,
        kind=party.kind,
        role=party.role,
        name=party.name,
        is_representative=party.is_representative,
        is_signer=party.is_signer,
        id_number=party.id_number_masked,
        id_number_status=party.id_number_status,
        id_unknown_reason=party.id_unknown_reason,
        org_code=party.org_code,
        phone=party.phone_masked,
        phone_kind=party.phone_kind,
        address=party.address_masked,
    )


OVERSIGHT_ENTRY_NAMES_ZH = {**EXTENSION_ENTRY_NAMES_ZH, **RECUSAL_ENTRY_NAMES_ZH, **ASSIGNMENT_NAMES_ZH}


def extension_grant(facts: CaseFacts, calendar: StatutoryCalendar) -> ExtensionGrantRead | None:
    """The approved extension (Art. 34) with what the 延期告知书 tells the petitioner."""
    if facts.extension_days is None:
        return None
    due = handling_due(calendar, facts.accepted_at, facts.extension_days) if facts.accepted_at else None
    return ExtensionGrantRead(
        days=facts.extension_days,
        approved_by=facts.extension_approved_by,
        approved_at=facts.extension_approved_at,
        reason=facts.extension_reason,
        last_day=due.last_day if due else None,
        provisional=due.provisional if due else False,
    )


def case_read(
    case: Case,
    parties: list[Party],
    facts: CaseFacts,
    principal: Principal,
    calendar: StatutoryCalendar,
    now: datetime,
) -> CaseRead:
    permitted = ROLE_ACTIONS[principal.role]
    # Offer only what would succeed: decisions belong to the level that holds the case
    # (CaseService._check_may_act), so a village reading an escalated case only visits.
    holds_case = principal.covers(case.handling_node_path)
    location = (
        Location(latitude=case.latitude, longitude=case.longitude)
        if case.latitude is not None and case.longitude is not None
        else None
    )
    return CaseRead(
        **_summary_fields(case, facts, calendar, now),
        request=case.request,
        facts=case.facts,
        reasons=case.reasons,
        category_version=case.category_version,
        location=location,
        people_involved=case.people_involved,
        flags=CaseFlags(
            involves_litigation=case.involves_litigation,
            administrative_dispute=case.administrative_dispute,
            violence_risk=case.violence_risk,
            cadres_involved=case.cadres_involved,
            multi_village=case.multi_village,
        ),
        handling_node_code=case.handling_node_code,
        created_by=case.created_by,
        assigned_to=case.assigned_to,
        captured_at=case.captured_at,
        parties=[party_read(party) for party in parties],
        accepted_at=facts.accepted_at,
        route=facts.route.value if facts.route else None,
        extension_days=facts.extension_days,
        extension=extension_grant(facts, calendar),
        reply_outcome=facts.reply_outcome.value if facts.reply_outcome else None,
        evaluation=facts.evaluation.value if facts.evaluation else None,
        escalations=[
            EscalationRead(from_level=item.from_level, to_level=item.to_level, at=item.at, rule=item.rule)
            for item in facts.escalations
        ],
        allowed_actions=[
            action.value
            for action in allowed_actions(facts)
            if action.value in permitted
            and (holds_case or action.value in READ_SCOPE_ACTIONS)
            # An extension is asked for (POST …/extension-requests) and granted by the head.
            and action is not Action.EXTEND
        ],
    )


def timeline_entry(event: CaseEvent) -> TimelineEntryRead:
    try:
        kind_name = ACTION_NAMES_ZH[Action(event.kind)]
    except ValueError:
        kind_name = {"edit": "修改案件信息", **SUPERVISION_ENTRY_NAMES_ZH, **OVERSIGHT_ENTRY_NAMES_ZH}.get(
            event.kind, event.kind
        )
    return TimelineEntryRead(
        id=event.id,
        seq=event.seq,
        kind=event.kind,
        kind_name=kind_name,
        at=event.at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        reason=event.reason,
        from_status=event.from_status,
        to_status=event.to_status,
        data=event.data,
    )
