"""The archive package of a closed case (docs/archive.md)."""

from __future__ import annotations

import base64
import uuid

from litestar import Controller, get
from litestar.datastructures import ETag, State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File

from server.api.deps import context_of
from server.principal import Principal
from server.services.archives import ArchiveService


class ArchiveController(Controller):
    path = "/cases"
    tags = ["archives"]

    @get(
        "/{case_id:uuid}/archive",
        summary="下载已办结案件的归档信息包（ZIP：案卷 PDF/A、元数据、案件数据、摘要清单）",
        media_type="application/zip",
        # Stored members are PDF/A and small texts; the file is served as stored.
        opt={"skip_compression": True},
    )
    async def archive(self, case_id: FromPath[uuid.UUID], principal: NamedDependency[Principal], state: State) -> File:
        stored = await ArchiveService(context_of(state)).package_for(principal, case_id)
        digest = base64.b64encode(bytes.fromhex(stored.row.sha256)).decode()
        return File(
            stored.path,
            media_type="application/zip",
            filename=stored.filename,
            etag=ETag(value=stored.row.sha256),
            headers={
                # RFC 9530: the receiver can check what it got against what was stored.
                "Repr-Digest": f"sha-256=:{digest}:",
                "X-Archive-SM3": stored.row.sm3,
                "Cache-Control": "private, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )
