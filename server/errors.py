"""The one place where failures become HTTP responses (RFC 9457 problem+json).

Every problem carries a stable ``code``; clients and tests switch on it, never on text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)

from grid.errors import DomainError, InvalidInput

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ServiceError(DomainError):
    """A refusal decided by the service layer (auth, scope, missing rows, conflicts)."""


# Codes whose HTTP status is not the default 422 of a refused rule.
STATUS_BY_CODE: dict[str, int] = {
    "auth.unauthenticated": 401,
    "auth.invalid_credentials": 401,
    "auth.token_expired": 401,
    "auth.token_revoked": 401,
    "auth.forbidden": 403,
    "auth.out_of_scope": 404,
    "not_found": 404,
    "region.not_found": 404,
    "case.invalid_transition": 409,
    "case.version_conflict": 409,
    "case.duplicate_id": 409,
    "case.extension_used": 409,
    "case.window_closed": 409,
    "case.window_open": 409,
    "case.performance_unconfirmed": 409,
    "case.closed": 409,
    "case.final": 409,
    "attachment.duplicate_id": 409,
    "user.username_taken": 409,
    "sync.gap": 409,
    "sync.device_unknown": 401,
    "sync.device_revoked": 401,
    "sync.device_mismatch": 403,
    "sync.device_taken": 409,
    "sync.client_outdated": 426,
    "sync.beacon_unknown": 404,
    "sync.not_reviewable": 409,
    "sync.already_reviewed": 409,
    "sync.review_invalid": 409,
    "request.method_not_allowed": 405,
    "upload.invalid": 400,
    "upload.unsupported_version": 412,
    "upload.too_large": 413,
    "upload.beyond_length": 413,
    "upload.unsupported_type": 415,
    "upload.bad_content_type": 415,
    "upload.offset_mismatch": 409,
    "upload.locked": 423,
    "upload.not_found": 404,
    "upload.hash_mismatch": 422,
    "upload.type_mismatch": 422,
    "file.not_uploaded": 404,
    "screening.already_reported": 409,
    "screening.duplicate_id": 409,
    "statistics.invalid_period": 422,
    "statistics.invalid_format": 422,
    "statistics.period_not_started": 422,
    "escalation.stale_decision": 409,
    "policy.invalid": 422,
    "supervision.not_found": 404,
    "supervision.already_replied": 409,
    "lead.none": 409,
    "notification.not_found": 404,
    "case.extension_needs_approval": 409,
    "case.recused": 403,
    "extension.pending": 409,
    "extension.not_found": 404,
    "extension.already_decided": 409,
    "extension.organ_changed": 409,
    "extension.self_approval": 403,
    "organ.not_head": 403,
    "organ.not_an_organ": 422,
    "organ.head_not_member": 422,
    "organ.already_head": 409,
    "organ.head_not_found": 404,
    "recusal.exists": 409,
    "recusal.not_found": 404,
    "recusal.already_lifted": 409,
    "recusal.not_liftable": 409,
    "recusal.invalid_source": 422,
    "recusal.party_required": 422,
    "archive.not_built": 404,
    "archive.not_closed": 409,
    "archive.conflict": 409,
    "archive.missing": 500,
    "archive.invalid": 500,
    "document.unknown_kind": 404,
    "document.not_applicable": 409,
    "internal": 500,
}

TITLES_ZH: dict[int, str] = {
    400: "请求有误",
    401: "需要登录",
    403: "无权操作",
    404: "未找到",
    405: "不支持的请求方法",
    409: "与当前状态冲突",
    412: "协议版本不受支持",
    413: "请求内容过大",
    415: "不支持的内容类型",
    422: "内容不符合规则",
    423: "资源正被占用",
    426: "需要更新应用",
    500: "服务器内部错误",
}


def problem_body(status: int, code: str, detail: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:fengqiao:problem:{code}",
        "title": TITLES_ZH.get(status, "错误"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    for key, value in (extra or {}).items():
        # RFC 9457: extensions must not redefine the standard members (a refused
        # transition's case "status" would replace the HTTP status); such a member is
        # kept under its code's prefix, e.g. "case_status".
        body[f"{code.split('.')[0]}_{key}" if key in body else key] = value
    return body


def problem(status: int, code: str, detail: str, extra: Mapping[str, Any] | None = None) -> Response[dict[str, Any]]:
    body = problem_body(status, code, detail, extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def domain_error_handler(_request: Request, error: DomainError) -> Response[dict[str, Any]]:
    status = STATUS_BY_CODE.get(error.code, 422)
    return problem(status, error.code, error.message, error.data)


def validation_error_handler(_request: Request, error: ValidationException) -> Response[dict[str, Any]]:
    """Request bodies that fail their schema: name every field and the rule it broke."""
    errors = _pydantic_errors(error)
    if errors is None:
        errors = [
            {"field": str(item.get("key") or ""), "rule": "invalid", "message": str(item.get("message"))}
            for item in (error.extra if isinstance(error.extra, list) else [])
        ]
    return problem(422, InvalidInput.code, "提交的内容有误，请按提示修改", {"errors": errors})


def _pydantic_errors(error: BaseException) -> list[dict[str, str]] | None:
    # Litestar keeps pydantic's own error list on the cause; it carries the rule (type)
    # that its flattened message list drops.
    cause: BaseException | None = error.__cause__
    while cause is not None:
        raw = getattr(cause, "errors", None)
        if isinstance(raw, list) and raw and isinstance(raw[0], dict) and "type" in raw[0]:
            return [
                {
                    "field": ".".join(str(part) for part in item.get("loc", ())),
                    "rule": str(item["type"]),
                    "message": str(item.get("msg", "")),
                }
                for item in raw
            ]
        cause = cause.__cause__
    return None


def http_error_handler(_request: Request, error: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(error, NotAuthorizedException):
        return problem(401, "auth.unauthenticated", "请先登录")
    if isinstance(error, NotFoundException):
        return problem(404, "not_found", "请求的资源不存在")
    if isinstance(error, MethodNotAllowedException):
        return problem(405, "request.method_not_allowed", "不支持的请求方法")
    status = error.status_code
    code = "request.too_large" if status == 413 else "request.invalid"
    return problem(status, code, str(error.detail))


def internal_error_handler(request: Request, error: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(500, "internal", "服务器内部错误，请稍后重试")


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
