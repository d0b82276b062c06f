"""Repeat petitions screened at intake (reads and counts: server/services/matters.py).

``screen_new_case`` runs inside the intake transaction (API or a device's create_case): it
refuses a matter that is final (``case.final``), links a duplicate to the first case of
its matter and records 越级, each with a timeline entry. The rules are in grid/repeats.py.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, HandlingLevel, Kind, Party, PartyKind, PartyRole, Risk
from grid.hierarchy import Region
from grid.lifecycle import Actor, Status, TimelineEntry
from grid.repeats import (
    DUPLICATE_ENTRY,
    DUPLICATE_THRESHOLD,
    FINAL_THRESHOLD,
    SKIP_LEVEL_ENTRY,
    CaseDuplicate,
    CaseSkipLevel,
    Prior,
    Verdict,
    assess,
    conditions_of,
    duplicate_summary,
    entry_level,
    final_message,
    final_on,
    matter_grams,
    name_key,
    resident_id_forms,
    similarity,
    skip_level,
)
from server.errors import ServiceError
from server.services.context import ServiceContext
from server.services.regions import in_subtree
from server.services.review_chain import county_code_of, policy_for

SCREENING_ACTOR = Actor(None, "系统（重复信访与越级核查）")
# A petitioner's earlier cases of one category looked at, newest first: enough for the
# most persistent petitioner, and a bound on the work one intake can cause.
MAX_PRIORS = 200


def _county_path(case: Case) -> str:
    county = f"{county_code_of(case)}000000"
    marker = f"/{county}/"
    return case.region_path[: case.region_path.index(marker) + len(marker)]


async def screen_new_case(
    session: AsyncSession, context: ServiceContext, case: Case, parties: list[Party]
) -> tuple[TimelineEntry, ...]:
    """Check a case being registered against the petitioner's earlier cases in the county.

    Raises ``case.final`` when the matter was re-reviewed (复核); otherwise writes the
    duplicate link and the 越级 record it finds and returns their timeline entries.
    """
    # The new case's own rows are left pending: the queries exclude them, and the caller
    # flushes them with its timeline entries in one go (earlier cases are flushed already).
    with session.no_autoflush:
        verdict = await _verdict(session, context, case, parties)
    if verdict.final is not None:
        final = verdict.final
        raise ServiceError(
            final_message(final),
            code="case.final",
            data={
                "final_case_id": str(final.case_id),
                "final_case_number": final.number,
                "final_on": final.final_on.isoformat() if final.final_on else None,
                "basis": final.basis,
            },
        )
    entries: list[TimelineEntry] = []
    at = case.registered_at
    if verdict.original is not None and verdict.matched is not None:
        original, matched = verdict.original, verdict.matched
        if original.place_name is None:
            village = await session.get(Region, (await session.get(Case, original.case_id)).village_code)
            original = replace(original, place_name=village.name if village else None)
        session.add(
            CaseDuplicate(
                case_id=case.id,
                original_id=original.case_id,
                matched_id=matched.case_id,
                basis=matched.basis,
                similarity=round(matched.similarity, 4),
                original_status=original.status.value,
                original_open=original.open,
                detected_at=at,
            )
        )
        entries.append(
            TimelineEntry(
                kind=DUPLICATE_ENTRY,
                at=at,
                actor_id=SCREENING_ACTOR.user_id,
                actor_name=SCREENING_ACTOR.name,
                reason=duplicate_summary(original, matched),
                from_status=None,
                to_status=None,
                data={
                    "original_id": str(original.case_id),
                    "original_number": original.number,
                    "original_status": original.status.value,
                    "original_open": original.open,
                    "matched_id": str(matched.case_id),
                    "basis": matched.basis,
                    "similarity": round(matched.similarity, 4),
                },
            )
        )
    found = skip_level(
        kind=Kind(case.kind),
        registered_level=HandlingLevel(case.level),
        entry=entry_level(
            policy_for(context, case),
            conditions_of(
                risk=Risk(case.risk),
                is_collective=case.is_collective,
                violence_risk=case.violence_risk,
                cadres_involved=case.cadres_involved,
                multi_village=case.multi_village,
            ),
        ),
        earlier_level=verdict.earlier_level,
    )
    if found is not None:
        session.add(
            CaseSkipLevel(
                case_id=case.id,
                registered_level=found.registered_level.value,
                expected_level=found.expected_level.value,
                rule=found.rule,
                channel=case.channel,
                detected_at=at,
            )
        )
        entries.append(
            TimelineEntry(
                kind=SKIP_LEVEL_ENTRY,
                at=at,
                actor_id=SCREENING_ACTOR.user_id,
                actor_name=SCREENING_ACTOR.name,
                reason=found.summary_zh,
                from_status=None,
                to_status=None,
                data={
                    "registered_level": found.registered_level.value,
                    "expected_level": found.expected_level.value,
                    "rule": found.rule,
                    "channel": case.channel,
                },
            )
        )
    return tuple(entries)


async def _verdict(session: AsyncSession, context: ServiceContext, case: Case, parties: list[Party]) -> Verdict:
    applicants = [p for p in parties if p.role == PartyRole.APPLICANT.value and p.kind == PartyKind.PERSON.value]
    cipher = context.cipher
    id_keys: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for party in applicants:
        if party.id_number_cipher:
            value = cipher.decrypt(party.id_number_cipher, context="party.id_number")
            id_keys.update(cipher.blind_index(form, "party.id_number") for form in resident_id_forms(value))
        if party.phone_index:
            pairs.add((name_key(party.name), party.phone_index))
    if not id_keys and not pairs:
        return Verdict()
    same_person = []
    if id_keys:
        same_person.append(col(Party.id_number_index).in_(sorted(id_keys)))
    if pairs:
        # The name bounds the rows of a phone a whole family shares; it is compared again
        # below, normalised, so that one applicant's name never pairs with another's phone.
        names = {party.name for party in applicants} | {name for name, _ in pairs}
        same_person.append(
            and_(col(Party.phone_index).in_(sorted({key for _, key in pairs})), col(Party.name).in_(sorted(names)))
        )
    # Two steps, so that both backends start from the party indexes: the same person first,
    # then their cases of this category in this county.
    found = await session.exec(
        select(Party.case_id, Party.id_number_index, Party.phone_index, Party.name).where(
            col(Party.role) == PartyRole.APPLICANT.value, or_(*same_person), col(Party.case_id) != case.id
        )
    )
    bases: dict[uuid.UUID, str] = {}
    for case_id, id_index, phone_index, name in found.all():
        if id_index in id_keys:
            bases[case_id] = "id_number"
        elif (name_key(name), phone_index) in pairs:
            bases.setdefault(case_id, "name_phone")
        # else: the name of one applicant with the phone of another
    if not bases:
        return Verdict()
    rows = await session.exec(
        select(*_PRIOR_COLUMNS)
        .where(
            col(Case.id).in_(sorted(bases)),
            col(Case.category_code) == case.category_code,
            in_subtree(col(Case.region_path), _county_path(case)),
        )
        .order_by(col(Case.registered_at).desc())
        .limit(MAX_PRIORS)
    )
    grams = matter_grams(case.title, case.request)
    priors = {
        row.id: _prior(row, bases[row.id], similarity(grams, matter_grams(row.title, row.request)))
        for row in rows.all()
    }
    if all(prior.similarity < DUPLICATE_THRESHOLD for prior in priors.values()):
        return Verdict()  # other matters of the petitioner: nothing to link, nothing to refuse
    # Only a close statement on a case that may have reached 复核 can make the matter final.
    maybe_final = [
        key
        for key, prior in priors.items()
        if prior.similarity >= FINAL_THRESHOLD and prior.status in (Status.FINAL, Status.CLOSED)
    ]
    if maybe_final:
        facts = await session.exec(select(Case.id, Case.lifecycle).where(col(Case.id).in_(maybe_final)))
        for key, lifecycle in facts.all():
            priors[key] = replace(priors[key], final_on=final_on(lifecycle))
    links = dict(
        (
            await session.exec(
                select(CaseDuplicate.case_id, CaseDuplicate.original_id).where(
                    col(CaseDuplicate.case_id).in_(list(priors))
                )
            )
        ).all()
    )
    priors = {key: replace(prior, duplicate_of=links.get(key)) for key, prior in priors.items()}
    # The originals of matched duplicates; one not matched itself is known only by its link.
    originals = dict(priors)
    missing = sorted({original for original in links.values() if original not in priors})
    if missing:
        for row in (await session.exec(select(*_PRIOR_COLUMNS).where(col(Case.id).in_(missing)))).all():
            originals[row.id] = _prior(row, "", 0.0)
    linked = {prior.duplicate_of: originals[prior.duplicate_of] for prior in priors.values() if prior.duplicate_of}
    return assess(priors.values(), linked)


# What the rule reads of an earlier case: whole rows would cost a persistent petitioner's
# every intake the loading of their whole history (bench/intake_bench.py).
_PRIOR_COLUMNS = (
    col(Case.id),
    col(Case.number),
    col(Case.status),
    col(Case.level),
    col(Case.registered_at),
    col(Case.title),
    col(Case.request),
)


def _prior(row: Any, basis: str, score: float) -> Prior:
    return Prior(
        case_id=row.id,
        number=row.number,
        status=Status(row.status),
        level=HandlingLevel(row.level),
        registered_at=row.registered_at,
        basis=basis,
        similarity=score,
        final_on=None,  # read only where it can matter (_verdict)
        duplicate_of=None,
    )
