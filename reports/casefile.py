"""The case file (案卷, 一案一卷: 人民调解法 Art. 27): cover, 卷内目录 with the page where each
document starts, every document of the case, and its full timeline, as one PDF/A-3b with
the case (as ``GET /api/v1/cases/{id}`` returns it) inside as ``case.json``.

One WeasyPrint layout does it: the contents read each document's first page through CSS
``target-counter()``, and the cover and contents pages reset the page counter, so the
file's pages are numbered from the first document (卷内文件页号), as an archivist would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from markupsafe import Markup

from grid.cases import HANDLING_LEVEL_NAMES_ZH, HandlingLevel
from grid.lifecycle import (
    EVALUATION_NAMES_ZH,
    OUTCOME_NAMES_ZH,
    ROUTE_NAMES_ZH,
    STATUS_NAMES_ZH,
    Evaluation,
    Outcome,
    Route,
    Status,
)
from reports.documents import (
    ROUTES_TOLD_NAMES_ZH,
    CaseData,
    CaseView,
    _instant,
    applicable_kinds,
    cn_date,
    cn_datetime,
    document_fragment,
    environment,
    stylesheet_path,
)
from reports.render import PdfAttachment, layout, write_pdf

CASE_JSON = "case.json"
# 信访 and 人民调解 files are kept 30 years (DA/T 22-2015 retention classes 永久/30年/10年);
# a county that keeps them permanently says so in its archive rules, not here.
RETENTION = "30年"

_LEVELS = {level.value: name for level, name in HANDLING_LEVEL_NAMES_ZH.items()}
_FORMS = {"oral": "口头", "written": "书面"}
# What a timeline entry's data says, in the order a reader wants it; keys not named here
# (ids, trigger keys, bookkeeping) are left out.
_DATA_LABELS: dict[str, tuple[str, Any]] = {
    "number": ("案号", None),
    "from_level": ("原层级", _LEVELS),
    "to_level": ("转至", _LEVELS),
    "organ": ("机关", None),
    "route": ("途径", {route.value: name for route, name in ROUTE_NAMES_ZH.items()}),
    "rule": ("依据规则", None),
    "basis": ("依据", None),
    "place": ("地点", None),
    "participants": ("参加人员", None),
    "summary": ("情况", None),
    "form": ("协议形式", _FORMS),
    "content": ("协议内容", None),
    "performance_manner": ("履行方式", None),
    "performance_place": ("履行地点", None),
    "performance_deadline": ("履行期限", None),
    "routes_told": ("已告知途径", ROUTES_TOLD_NAMES_ZH),
    "days": ("天数", None),
    "approved_by": ("批准人", None),
    "outcome": ("结论", {outcome.value: name for outcome, name in OUTCOME_NAMES_ZH.items()}),
    "request": ("请求", None),
    "facts_and_reasons": ("事实和理由", None),
    "decision": ("处理意见", None),
    "legal_basis": ("法律依据", None),
    "delivered_at": ("送达时间", "datetime"),
    "received_at": ("收到申请时间", "datetime"),
    "evaluation": ("评价", {evaluation.value: name for evaluation, name in EVALUATION_NAMES_ZH.items()}),
    "text": ("备注", None),
    "resolution": ("办结情况", None),
    "risk": ("风险等级", {"low": "低", "medium": "中", "high": "高"}),
    "due_last_day": ("办理期限", "date"),
    "target_last_day": ("调解期限", "date"),
    "objection_last_day": ("异议期限", "date"),
    "review_window_last_day": ("复查申请期限", "date"),
    "rereview_window_last_day": ("复核申请期限", "date"),
    "decision_last_day": ("决定期限", "date"),
    "reply_last_day": ("回复期限", "date"),
    "summary_zh": ("说明", None),
}


def _value(value: Any, how: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_value(item, how) for item in value)
    if how == "datetime":
        return cn_datetime(value)
    if how == "date":
        return cn_date(value)
    if isinstance(how, Mapping):
        return str(how.get(value, value))
    return str(value)


def entry_details(entry: Mapping[str, Any], case: CaseView) -> list[tuple[str, str]]:
    """The facts of one timeline entry as (label, text) pairs, in Chinese."""
    data = entry.get("data") or {}
    details: list[tuple[str, str]] = []
    for key, (label, how) in _DATA_LABELS.items():
        value = data.get(key)
        if value is None or value == "" or value == []:
            continue
        details.append((label, _value(value, how)))
    for key, label in (("party_ids", "当事人"), ("consenting_party_ids", "同意调解的当事人"), ("party_id", "当事人")):
        ids = data.get(key)
        if ids:
            names = case.party_names([ids] if isinstance(ids, str) else ids)
            if names:
                details.append((label, names))
    return details


def _status(value: str | None) -> str:
    if not value:
        return ""
    try:
        return STATUS_NAMES_ZH[Status(value)]
    except ValueError:
        return value


def casefile_date(data: CaseData) -> datetime:
    """The case file's date: the last change the file records (never the clock), so an
    unchanged case gives the same file."""
    moments = [_instant(data.case["updated_at"])]
    moments += [_instant(entry["at"]) for entry in data.timeline]
    return max(moment for moment in moments if moment is not None)


def _holder(case: CaseView) -> str:
    """全宗 / 立卷单位: the committee for a dispute mediated in the village, otherwise the
    organ holding the case."""
    level = case.case["level"]
    if not case.is_petition and level == HandlingLevel.VILLAGE.value:
        return case.committee
    return case.petition_organ(level)


def _result(case: CaseView) -> str:
    c = case.case
    parts = [c["status_name"]]
    if c.get("reply_outcome"):
        parts.append(OUTCOME_NAMES_ZH[Outcome(c["reply_outcome"])])
    if c.get("route"):
        parts.append(ROUTE_NAMES_ZH[Route(c["route"])])
    performance = case.last("confirm_performance", "report_nonperformance")
    if performance is not None:
        parts.append("协议已履行" if performance["kind"] == "confirm_performance" else "协议未履行")
    if c.get("evaluation"):
        parts.append(f"评价：{EVALUATION_NAMES_ZH[Evaluation(c['evaluation'])]}")
    return "，".join(parts)


def casefile_html(data: CaseData) -> str:
    case = CaseView(data)
    kinds = applicable_kinds(data)
    documents = []
    for index, kind in enumerate(kinds, start=1):
        section_id = f"doc-{index}-{kind.slug}"
        documents.append(
            {
                "index": index,
                "kind": kind,
                "section_id": section_id,
                "date": kind.dated(case),
                "issuer": kind.view(case).get("issuer") or _holder(case),
                "html": Markup(document_fragment(kind.slug, data, section_id=section_id)),
            }
        )
    closed = case.last("close")
    timeline = [
        {
            **entry,
            "details": entry_details(entry, case),
            "from_name": _status(entry.get("from_status")),
            "to_name": _status(entry.get("to_status")),
        }
        for entry in data.timeline
    ]
    return (
        environment()
        .get_template("documents/casefile.html")
        .render(
            case=case,
            c=case.case,
            documents=documents,
            timeline=timeline,
            holder=_holder(case),
            result=_result(case),
            closed=closed,
            accepted=case.first("accept"),
            created=casefile_date(data),
            retention=RETENTION,
            category_name=data.category_name,
            masked=data.identity == "masked",
            title=casefile_title(data),
        )
    )


def casefile_title(data: CaseData) -> str:
    number = data.case.get("number") or ""
    return f"案卷：{data.case['title']}" + (f"（{number}）" if number else "")


def case_json_bytes(case: Mapping[str, Any]) -> bytes:
    """The case as JSON, the same bytes for the same case (sorted keys, no spaces)."""
    return json.dumps(case, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def render_casefile(
    data: CaseData, *, embedded: Mapping[str, Any] | None = None, created: datetime | None = None
) -> bytes:
    """The case file as PDF/A-3b with ``case.json`` (relationship Data) inside; module-level
    with picklable arguments, so it runs in the render pool.

    ``case.json`` holds ``data.case`` (the case as GET /cases/{id} returns it) unless the
    caller embeds another document (an archive package embeds the case with its timeline);
    ``created`` defaults to the last change the file records.
    """
    document = layout(casefile_html(data), stylesheets=[stylesheet_path()])
    return write_pdf(
        document,
        identifier=f"fengqiao:case:{data.case['id']}:casefile:{data.identity}",
        title=casefile_title(data),
        created=created or casefile_date(data),
        attachments=[
            PdfAttachment(
                name=CASE_JSON,
                data=case_json_bytes(data.case if embedded is None else embedded),
                mime="application/json",
                description="案件数据（与接口 GET /api/v1/cases/{id} 返回的内容一致）",
            )
        ],
    )
