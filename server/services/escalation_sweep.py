"""The escalation sweeper: acts on what the engine (grid/escalation.py) finds due.

Recipe (docs/escalation-policy.md, "Applying decisions" and "The sweeper"): only cases
whose stored ``next_check_at`` has come are read (an indexed range, in batches). Each batch
is one short write transaction with its case rows locked: the decisions are claimed by
inserting their trigger keys into ``escalation_trigger`` (unique per case), applied through
the case service's own path, followed by 督办 items and outbox rows, and each case's next
check is stored. A key that is already there means another process acted first; then, as
on a stale escalation or any error, the batch's savepoint is rolled back and its cases are
done one by one, each in a savepoint of its own and evaluated afresh. So a sweep run twice,
or in two processes, acts once, and one broken case holds up no other.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, literal, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from grid.cases import Case, CaseEvent
from grid.escalation import (
    CaseView,
    EngineDecision,
    Escalate,
    Notify,
    OpenSupervision,
    Remind,
    StaleDecision,
    apply,
    deliverable,
    describe,
    evaluate,
    fired_after,
)
from grid.hierarchy import Region, codes_on_path
from grid.lifecycle import CaseFacts, Decision
from grid.policy import NotifyEvent
from grid.storage_types import UTCDateTime
from grid.supervision import reply_due
from server.escalation_tables import EscalationTrigger
from server.services.cases import HANDLING_TO_REGION_LEVEL, CaseService, append_timeline
from server.services.changes import transaction_change_seq
from server.services.context import ServiceContext
from server.services.escalation import fired_keys_of, policy_in_force, stamp_next_check, view_of
from server.services.notifications import enqueue
from server.services.supervision import open_supervision
from server.services.upsert import upsert_statement

log = logging.getLogger(__name__)

# Cases per write transaction: big enough that commits do not dominate, small enough that
# the case rows and the change-feed clock are held for a fraction of a second.
BATCH_SIZE = 100
# A case whose decisions keep going stale (people acting on it meanwhile) waits for the next sweep.
MAX_ATTEMPTS = 3
DEDUPE_KEY_LENGTH = 200
# Trigger rows per INSERT: 9 parameters each stays far below SQLite's and asyncpg's limits.
CLAIM_CHUNK = 1_000

DECISION_NAMES_ZH = {
    "Escalate": "上报",
    "Relight": "预警灯",
    "OpenSupervision": "督办",
    "Notify": "通知",
    "Remind": "提醒",
}
EVENT_TITLES_ZH = {
    NotifyEvent.YELLOW.value: "黄灯预警",
    NotifyEvent.RED.value: "红灯预警",
    NotifyEvent.ESCALATED.value: "案件已上报",
    NotifyEvent.SUPERVISION.value: "督办通知",
    NotifyEvent.REMINDER.value: "期限提醒",
    "review_requested": "复查申请",
    "rereview_requested": "复核申请",
    "dissatisfied": "信访人不满意",
}


class TriggerTaken(Exception):
    """Another transaction acted on one of these triggers first: evaluate the case again."""


@dataclass(frozen=True)
class _Plan:
    """One locked case, as the engine saw it, and what it decided."""

    case: Case
    facts: CaseFacts
    view: CaseView
    decisions: list[EngineDecision]


@dataclass(frozen=True)
class Outcome:
    decisions: list[EngineDecision]
    notifications: int


@dataclass
class SweepReport:
    now: datetime
    # Due cases read, and those for which at least one decision was acted on.
    examined: int = 0
    acted: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    notifications: int = 0
    # Cases evaluated again after a stale decision or a trigger another process took.
    retried: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        if outcome.decisions:
            self.acted += 1
            self.decisions.update(type(decision).__name__ for decision in outcome.decisions)
            self.notifications += outcome.notifications

    @property
    def escalated(self) -> int:
        return self.decisions["Escalate"]

    def summary_zh(self) -> str:
        counts = "，".join(f"{DECISION_NAMES_ZH.get(kind, kind)} {n}" for kind, n in sorted(self.decisions.items()))
        failed = f"，失败 {len(self.failed)} 件" if self.failed else ""
        return (
            f"到期案件 {self.examined} 件，处理 {self.acted} 件（{counts or '无'}），"
            f"新通知 {self.notifications} 条{failed}，用时 {self.seconds:.2f} 秒"
        )


@dataclass(frozen=True)
class CasePreview:
    case_id: uuid.UUID
    number: str | None
    title: str
    decisions: list[EngineDecision]


async def _last_seqs(session: AsyncSession, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each case's last timeline seq, in one query for the batch."""
    if not case_ids:
        return {}
    statement = (
        select(CaseEvent.case_id, func.max(CaseEvent.seq))
        .where(col(CaseEvent.case_id).in_(case_ids))
        .group_by(col(CaseEvent.case_id))
    )
    return {case_id: int(seq) for case_id, seq in (await session.exec(statement)).all()}


async def _new_nodes(session: AsyncSession, plans: list[_Plan]) -> dict[uuid.UUID, Region]:
    """The node each escalating case moves to, in one query for the batch."""
    targets = {}
    for plan in plans:
        ups = [decision for decision in plan.decisions if isinstance(decision, Escalate)]
        if ups:
            targets[plan.case.id] = (codes_on_path(plan.case.region_path), HANDLING_TO_REGION_LEVEL[ups[-1].to_level])
    if not targets:
        return {}
    codes = {code for path, _ in targets.values() for code in path}
    levels = {level.value for _, level in targets.values()}
    statement = select(Region).where(col(Region.code).in_(codes), col(Region.level).in_(levels))
    found = {(region.code, region.level): region for region in (await session.exec(statement)).all()}
    nodes = {}
    for case_id, (path, level) in targets.items():
        node = next((found[(code, level)] for code in path if (code, level) in found), None)
        if node is not None:
            nodes[case_id] = node
    return nodes


def _dedupe_key(case_id: uuid.UUID, trigger_key: str) -> str:
    key = f"escalation:{case_id}:{trigger_key}"
    if len(key) <= DEDUPE_KEY_LENGTH:
        return key
    return f"escalation:{case_id}:{hashlib.sha256(trigger_key.encode()).hexdigest()}"


class EscalationSweeper:
    def __init__(self, context: ServiceContext, *, batch_size: int = BATCH_SIZE):
        self.context = context
        self.cases = CaseService(context)
        self.policy = policy_in_force(context.settings)
        self.batch_size = batch_size

    # ------------------------------------------------------------ finding due cases

    async def _due(self, now: datetime, after: tuple[datetime, uuid.UUID] | None) -> list[tuple[datetime, uuid.UUID]]:
        """The next batch of due cases in (next_check_at, id) order: an index range, no write lock."""
        key = tuple_(col(Case.next_check_at), col(Case.id))
        statement = select(Case.next_check_at, Case.id).where(col(Case.next_check_at) <= now)
        if after is not None:
            # Keyset: a case that failed stays due but is not read again in this sweep.
            statement = statement.where(
                key > tuple_(literal(after[0], UTCDateTime()), literal(after[1], Case.__table__.c.id.type))
            )
        statement = statement.order_by(col(Case.next_check_at), col(Case.id)).limit(self.batch_size)
        async with self.context.db.read() as session:
            return [(at, case_id) for at, case_id in (await session.exec(statement)).all()]

    async def _batches(self, now: datetime) -> AsyncIterator[list[uuid.UUID]]:
        after = None
        while True:
            due = await self._due(now, after)
            if not due:
                return
            yield [case_id for _, case_id in due]
            if len(due) < self.batch_size:
                return
            after = due[-1]

    # ------------------------------------------------------------ the sweep

    async def sweep(self, now: datetime) -> SweepReport:
        """Act on everything due by ``now``; safe to run twice and in several processes."""
        if now.tzinfo is None:
            raise ValueError("sweep() needs an aware datetime")
        started = time.perf_counter()
        report = SweepReport(now)
        async for case_ids in self._batches(now):
            await self._sweep_batch(case_ids, now, report)
        report.seconds = time.perf_counter() - started
        if report.examined:
            log.info("escalation sweep at %s: %s", now.isoformat(), report.summary_zh())
        return report

    async def _sweep_batch(self, case_ids: list[uuid.UUID], now: datetime, report: SweepReport) -> None:
        async with self.context.db.write() as session:
            # Still due (another process may have swept them since the read), and not held
            # by another transaction: PostgreSQL skips those, a later sweep finds them.
            statement = (
                select(Case)
                .where(col(Case.id).in_(case_ids), col(Case.next_check_at) <= now)
                .order_by(col(Case.next_check_at), col(Case.id))
                .with_for_update(skip_locked=True)
            )
            cases = list((await session.exec(statement)).all())
            if not cases:
                return
            report.examined += len(cases)
            # Drawn before the first savepoint: a rolled-back savepoint must not return it.
            await transaction_change_seq(session)
            try:
                async with session.begin_nested():
                    outcomes = await self._act(session, cases, now)
            except Exception as error:
                # A trigger another process took, a stale decision or a broken case: go
                # through the batch case by case, so one case's trouble stays its own.
                if not isinstance(error, StaleDecision | TriggerTaken):
                    log.warning("escalation sweep batch failed (%s); retrying case by case", error)
                for case in cases:
                    await session.refresh(case)
                    await self._sweep_case(session, case, now, report)
                return
            for outcome in outcomes:
                report.add(outcome)

    async def _sweep_case(self, session: AsyncSession, case: Case, now: datetime, report: SweepReport) -> None:
        for _ in range(MAX_ATTEMPTS):
            try:
                async with session.begin_nested():
                    [outcome] = await self._act(session, [case], now)
            except (StaleDecision, TriggerTaken):
                report.retried += 1
                await session.refresh(case)
                continue
            except Exception as error:
                # One broken case must not hold up every other case's escalation.
                log.exception("escalation sweep failed for case %s", case.id)
                report.failed[str(case.id)] = f"{type(error).__name__}: {error}"
                return
            report.add(outcome)
            return
        report.failed[str(case.id)] = "decisions kept going stale; left for the next sweep"

    async def _act(self, session: AsyncSession, cases: list[Case], now: datetime) -> list[Outcome]:
        """Evaluate, claim, apply and follow up a batch of locked cases. Reads and claims are
        one statement per batch, and the writes are flushed together: a sweep's cost is per
        batch round trips, not per case."""
        calendar = self.context.calendar
        fired = await fired_keys_of(session, [case.id for case in cases])
        plans = []
        for case in cases:
            facts = CaseFacts.from_json(case.lifecycle)
            view = view_of(case, calendar, fired.get(case.id, frozenset()), facts)
            plans.append(_Plan(case, facts, view, evaluate(view, now, self.policy, calendar)))
        acting = [plan for plan in plans if plan.decisions]
        await self._claim(session, acting, now)
        last = await _last_seqs(session, [plan.case.id for plan in acting])
        nodes = await _new_nodes(session, acting)
        with session.no_autoflush:
            for plan in plans:
                await self._write(session, plan, last.get(plan.case.id, 0) + 1, nodes.get(plan.case.id), now)
        # Follow-ups read the timeline (open_supervision looks for the engine's entry).
        await session.flush()
        return [Outcome(plan.decisions, await self._follow_up(session, plan, now)) for plan in plans]

    async def _claim(self, session: AsyncSession, plans: list[_Plan], now: datetime) -> None:
        rows = [
            {
                "case_id": plan.case.id,
                "trigger_key": decision.trigger_key,
                "rule_id": decision.rule_id,
                "policy_id": decision.policy_id,
                "policy_version": decision.policy_version,
                "decision": type(decision).__name__,
                "at": decision.at,
                "applied_at": now,
                "facts": decision.facts,
            }
            for plan in plans
            for decision in plan.decisions
        ]
        if not rows:
            return
        table = EscalationTrigger.__table__
        statement = upsert_statement(session.bind.dialect.name, table, ["case_id", "trigger_key"], None)
        statement = statement.returning(table.c.trigger_key)
        inserted = 0
        for start in range(0, len(rows), CLAIM_CHUNK):
            result = await session.exec(statement, params=rows[start : start + CLAIM_CHUNK])  # type: ignore[call-overload]
            inserted += len(result.all())
        if inserted != len(rows):
            raise TriggerTaken(len(rows) - inserted)

    async def _write(
        self, session: AsyncSession, plan: _Plan, first_seq: int, node: Region | None, now: datetime
    ) -> None:
        """The facts, timeline entries and next check of one case (``grid.escalation.apply``)."""
        calendar, case, before = self.context.calendar, plan.case, plan.facts
        fired = fired_after(plan.view, plan.decisions)
        facts, entries = before, []
        for decision in plan.decisions:
            applied = apply(facts, decision, now=now, calendar=calendar)
            facts = applied.facts
            entries += applied.entries
        if facts is not before:
            # An escalation: level, handling node, status and version move as a manual one
            # does (and the case service stores the next check).
            decision = Decision(facts, tuple(entries))
            await self.cases.record_decision(
                session, case, before, decision, now=now, first_seq=first_seq, fired=fired, node=node
            )
            return
        if entries:
            # Lights and 督办 change nothing a person edits: the version stays, so nobody's
            # edit in progress turns stale because a light changed.
            await append_timeline(session, case, entries, first_seq=first_seq)
        await stamp_next_check(session, case, calendar, self.policy, fired=fired, facts=before)

    async def _follow_up(self, session: AsyncSession, plan: _Plan, now: datetime) -> int:
        """督办 items and outbox rows, after the timeline entries (open_supervision then sees
        the engine's own entry and adds none). Returns the notifications queued."""
        queued = 0
        for decision in plan.decisions:
            if isinstance(decision, OpenSupervision):
                # The supervised organ's written reply is counted from when the 督办 is issued.
                due = reply_due(self.context.calendar, now, decision.reply_days, decision.reply_unit)
                await open_supervision(
                    session,
                    case_id=plan.case.id,
                    trigger_key=decision.trigger_key,
                    reason=decision.reason_zh,
                    opened_at=now,
                    reply_due_at=due.ends_at,
                )
            elif isinstance(decision, Notify | Remind) and deliverable(decision, now):
                queued += await self._notify(session, plan.case, decision, now)
        return queued

    async def _notify(self, session: AsyncSession, case: Case, decision: Notify | Remind, now: datetime) -> int:
        event = decision.event if isinstance(decision, Notify) else NotifyEvent.REMINDER.value
        return await enqueue(
            session,
            dedupe_key=_dedupe_key(case.id, decision.trigger_key),
            event=event,
            case_id=case.id,
            recipients=decision.recipients,
            title=f"{EVENT_TITLES_ZH.get(event, '案件提醒')}：{case.title}"[:200],
            body=decision.reason_zh,
            payload={"case_id": str(case.id), "number": case.number, **describe(decision)},
            created_at=now,
        )

    # ------------------------------------------------------------ a dry run

    async def preview(self, now: datetime) -> AsyncIterator[CasePreview]:
        """What a sweep at ``now`` would do, case by case, changing nothing."""
        if now.tzinfo is None:
            raise ValueError("preview() needs an aware datetime")
        calendar = self.context.calendar
        async for case_ids in self._batches(now):
            async with self.context.db.read() as session:
                cases = (
                    await session.exec(
                        select(Case).where(col(Case.id).in_(case_ids)).order_by(col(Case.next_check_at), col(Case.id))
                    )
                ).all()
                fired = await fired_keys_of(session, [case.id for case in cases])
                for case in cases:
                    view = view_of(case, calendar, fired.get(case.id, frozenset()))
                    yield CasePreview(case.id, case.number, case.title, evaluate(view, now, self.policy, calendar))
