"""Documents and case files of a case (reports/documents.py, reports/casefile.py).

The service gathers what a document says — the case as GET /cases/{id} returns it to the
caller, its timeline as GET …/timeline returns it, the regions it touches, its category's
name — and renders in the render pool (off the event loop). Reading a document is reading
the case: the same jurisdiction, the same answer (auth.out_of_scope) outside it.

Documents show masked identity. A document generated *for the parties* (to hand over or
post) carries their ID numbers, phones and addresses in full: it is a reveal like
POST …/identity, with the same roles, recusal check and reason, logged in the same
identity-access log (the reason names the document), before anything is rendered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import col, select

from grid.categories import Category
from grid.hierarchy import Region, codes_on_path
from reports.casefile import render_casefile
from reports.documents import CaseData, DocumentKind, UnknownKind, applicable_kinds, kind_of, render_document
from server.api.presenters import case_read, timeline_entry
from server.errors import ServiceError
from server.principal import Principal
from server.schemas.cases import RevealRequest
from server.services.cases import CaseService
from server.services.context import ServiceContext

IDENTITY_FIELDS = ("id_number", "phone", "address")
# Keys of timeline data that name a region whose organ a document may name.
REGION_KEYS = ("supervised_node", "node_code")


@dataclass(frozen=True)
class RenderedDocument:
    kind: str
    title: str
    pdf: bytes

    @property
    def filename(self) -> str:
        return f"{self.title}.pdf".replace("/", "、")


def unknown_kind(slug: str) -> ServiceError:
    return ServiceError(f"没有这种文书：{slug}", code="document.unknown_kind", data={"kind": slug})


def not_applicable(kind: DocumentKind) -> ServiceError:
    return ServiceError(
        f"本案尚无“{kind.title}”所记载的事实，不能生成该文书",
        code="document.not_applicable",
        data={"kind": kind.slug},
    )


class DocumentService:
    def __init__(self, context: ServiceContext, run: Callable[..., Any] | None = None):
        self.context = context
        self.cases = CaseService(context)
        self._run = run or context.off_loop

    async def case_data(self, principal: Principal, case_id: uuid.UUID) -> CaseData:
        """What the documents of a case say, as the caller may read it (masked identity)."""
        bundle = await self.cases.get(principal, case_id)
        events = await self.cases.timeline(principal, case_id)
        case = bundle.case
        read = case_read(case, bundle.parties, bundle.facts, principal, self.context.calendar, self.context.clock.now())
        timeline = [timeline_entry(event).model_dump(mode="json") for event in events]
        codes = set(codes_on_path(case.region_path)) | set(codes_on_path(case.handling_node_path))
        for entry in timeline:
            codes |= {str(entry["data"][key]) for key in REGION_KEYS if entry["data"].get(key)}
        async with self.context.db.read() as session:
            regions = (await session.exec(select(Region).where(col(Region.code).in_(sorted(codes))))).all()
            category = (
                await session.exec(
                    select(Category.name).where(
                        Category.version == case.category_version, Category.code == case.category_code
                    )
                )
            ).first()
        return CaseData(
            case=read.model_dump(mode="json"),
            timeline=timeline,
            regions={region.code: {"name": region.name, "level": region.level} for region in regions},
            category_name=category or case.category_code,
        )

    async def kinds(self, principal: Principal, case_id: uuid.UUID) -> list[DocumentKind]:
        return applicable_kinds(await self.case_data(principal, case_id))

    async def document(self, principal: Principal, case_id: uuid.UUID, slug: str) -> RenderedDocument:
        """One document of the case with masked identity."""
        kind = _kind(slug)
        data = await self.case_data(principal, case_id)
        _check_applies(kind, data)
        return await self._render(kind, data)

    async def document_for_party(
        self, principal: Principal, case_id: uuid.UUID, slug: str, reason: str
    ) -> RenderedDocument:
        """One document with the parties' identity in full, for handing to them; the reveal
        is logged (who, when, which fields, the document and why) before rendering."""
        kind = _kind(slug)
        data = await self.case_data(principal, case_id)
        _check_applies(kind, data)
        logged_reason = f"生成文书《{kind.title}》（{kind.slug}）交当事人：{reason}"
        revealed = await self.cases.reveal(
            principal, case_id, RevealRequest(reason=logged_reason, fields=list(IDENTITY_FIELDS))
        )
        return await self._render(kind, with_identity(data, revealed))

    async def case_file(self, principal: Principal, case_id: uuid.UUID) -> RenderedDocument:
        data = await self.case_data(principal, case_id)
        number = data.case.get("number") or str(case_id)
        pdf = await self._run(render_casefile, data)
        return RenderedDocument("case_file", f"案卷-{number}", pdf)

    async def _render(self, kind: DocumentKind, data: CaseData) -> RenderedDocument:
        pdf = await self._run(render_document, kind.slug, data)
        number = data.case.get("number") or data.case["id"]
        suffix = "-当事人" if data.identity == "full" else ""
        return RenderedDocument(kind.slug, f"{kind.title}-{number}{suffix}", pdf)


def with_identity(data: CaseData, revealed: list[dict[str, Any]]) -> CaseData:
    """The case data with the parties' identity in full (as revealed)."""
    by_id = {str(item["id"]): item for item in revealed}
    parties = []
    for party in data.case["parties"]:
        clear = by_id.get(str(party["id"]), {})
        parties.append({**party, **{key: clear[key] for key in IDENTITY_FIELDS if clear.get(key)}, "masked": False})
    identity: Literal["full"] = "full"
    return CaseData(
        case={**data.case, "parties": parties},
        timeline=data.timeline,
        regions=data.regions,
        category_name=data.category_name,
        identity=identity,
        users=data.users,
    )


def _kind(slug: str) -> DocumentKind:
    try:
        return kind_of(slug)
    except UnknownKind:
        raise unknown_kind(slug) from None


def _check_applies(kind: DocumentKind, data: CaseData) -> None:
    if kind.slug not in {item.slug for item in applicable_kinds(data)}:
        raise not_applicable(kind)
