"""Documents of a case and its case file, as PDF/A (docs/documents.md)."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import context_of
from server.principal import Principal
from server.services.documents import DocumentService, RenderedDocument

PDF = "application/pdf"


class DocumentKindRead(BaseModel):
    kind: str = Field(description="文书种类代码，如 mediation_agreement")
    title: str = Field(description="文书名称，如 调解协议书")
    path: str = Field(description="下载地址（相对 /api/v1）")


class ForPartyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The reveal log holds the document's name beside it (500 characters in all).
    reason: str = Field(min_length=4, max_length=400, description="生成含完整身份信息文书的理由（记入日志）")


def pdf_response(document: RenderedDocument) -> Response[bytes]:
    # RFC 6266 / 8187: a Chinese file name for browsers, an ASCII fallback for the rest.
    fallback = f"{document.kind}.pdf"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(document.filename)}"
    return Response(
        document.pdf,
        media_type=PDF,
        headers={
            "Content-Disposition": disposition,
            "ETag": f'"{hashlib.sha256(document.pdf).hexdigest()}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


class DocumentController(Controller):
    path = "/cases"
    tags = ["documents"]

    @get("/{case_id:uuid}/documents", summary="本案可生成的文书（种类与名称）")
    async def list_documents(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> list[DocumentKindRead]:
        kinds = await DocumentService(context_of(state)).kinds(principal, case_id)
        return [
            DocumentKindRead(kind=kind.slug, title=kind.title, path=f"/cases/{case_id}/documents/{kind.slug}")
            for kind in kinds
        ]

    @get(
        "/{case_id:uuid}/documents/{kind:str}",
        summary="下载文书（PDF/A，当事人身份信息脱敏）",
        media_type=PDF,
        # PDF streams are compressed already.
        opt={"skip_compression": True},
    )
    async def get_document(
        self, case_id: FromPath[uuid.UUID], kind: FromPath[str], principal: NamedDependency[Principal], state: State
    ) -> Response[bytes]:
        return pdf_response(await DocumentService(context_of(state)).document(principal, case_id, kind))

    @post(
        "/{case_id:uuid}/documents/{kind:str}/for-party",
        status_code=200,
        summary="生成交当事人的文书（含完整身份信息；须说明理由，记入身份信息访问记录）",
        media_type=PDF,
        opt={"skip_compression": True},
    )
    async def document_for_party(
        self,
        case_id: FromPath[uuid.UUID],
        kind: FromPath[str],
        data: JSONBody[ForPartyRequest],
        principal: NamedDependency[Principal],
        state: State,
    ) -> Response[bytes]:
        service = DocumentService(context_of(state))
        return pdf_response(await service.document_for_party(principal, case_id, kind, data.reason))

    @get(
        "/{case_id:uuid}/case-file",
        summary="下载案卷（PDF/A：封面、卷内目录、全部文书、办理过程记录；内嵌案件数据 case.json）",
        media_type=PDF,
        opt={"skip_compression": True},
    )
    async def case_file(
        self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State
    ) -> Response[bytes]:
        return pdf_response(await DocumentService(context_of(state)).case_file(principal, case_id))
