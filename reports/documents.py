"""The documents of a case (DOMAIN.md §8): which exist for a case, and their HTML.

Everything here is a pure function of plain data the server passes in (:class:`CaseData`):
the case as ``GET /api/v1/cases/{id}`` returns it, its timeline entries as
``GET …/timeline`` returns them, the names of the regions it touches and whether the
parties' identity is masked or in full. Nothing is read from a database or a clock, so a
document can be rendered again years later, in a worker process, to the same bytes.

A kind *applies* to a case when the case has the facts it records: an acceptance notice
once the case was accepted, a mediation agreement once a written agreement was reached,
and so on. Each kind is one PDF; when the case has several occurrences (two sessions,
two 督办) the document holds each on its own page.

Layouts: the notices and opinions an organ issues (受理告知书, 信访处理意见书, …) follow
GB/T 9704-2012 (版头 with the issuing organ's mark and the case number over a red rule,
主体, 版记, page numbers "— n —" outside the text block); registration forms and records
(登记表, 调解笔录, 调解协议书, 回访记录, 转送/交办单, 督办单) are tables in the shape of the
Ministry of Justice's 人民调解文书格式 and local 信访 forms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property, lru_cache
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from grid.calendar import CHINA_TZ
from grid.cases import CHANNEL_NAMES_ZH, HANDLING_LEVEL_NAMES_ZH, KIND_NAMES_ZH, RISK_NAMES_ZH, Channel, Kind, Risk
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
from reports.render import package_path, render_pdf

Identity = Literal["masked", "full"]

STYLESHEET = "documents/documents.css"
TEMPLATES = package_path("templates")

PARTY_ROLE_NAMES_ZH = {"applicant": "申请人", "respondent": "被申请人", "third_party": "第三人"}
PETITION_ROLE_NAMES_ZH = {"applicant": "信访人", "respondent": "被反映人", "third_party": "其他当事人"}
PARTY_KIND_NAMES_ZH = {"person": "自然人", "organisation": "法人或其他组织"}
FLAG_NAMES_ZH = {
    "involves_litigation": "涉法涉诉",
    "administrative_dispute": "行政争议",
    "violence_risk": "有激化为刑事案件或暴力事件的可能",
    "cadres_involved": "涉及村（社区）干部",
    "multi_village": "涉及多个村（社区）",
}
ROUTES_TOLD_NAMES_ZH = {"arbitration": "仲裁", "administrative": "行政途径", "litigation": "诉讼"}
REPLY_UNIT_NAMES_ZH = {"working_days": "个工作日", "days": "日", "hours": "小时"}
FOLLOW_UP_KINDS = ("follow_up", "confirm_performance", "report_nonperformance")
FOLLOW_UP_NAMES_ZH = {
    "follow_up": "回访",
    "confirm_performance": "回访（确认协议已履行）",
    "report_nonperformance": "回访（协议未履行）",
}
SUPERVISION_OPENED = "open_supervision"
SUPERVISION_REPLIED = "supervision_reply"
LEVEL_CHANGES = ("escalate", "refer_down", "request_review", "request_rereview")
# Whose organ handles a case held at a level: a village committee is no administrative
# organ (grid/organs.py), so a petition held at the village is answered by its township.
PETITION_ORGAN_LEVEL = {"village": "township", "township": "township", "county": "county", "city": "city"}
ORGAN_ABOVE = {"township": "county", "county": "city", "city": "province"}


@dataclass(frozen=True)
class CaseData:
    """What the server gathers for the documents of one case (plain, picklable data).

    ``case``: the case as ``GET /api/v1/cases/{id}`` returns it (JSON), its parties
    masked, or with ``id_number``, ``phone`` and ``address`` in full when ``identity`` is
    "full". ``timeline``: its entries as ``GET …/timeline`` returns them, in order.
    ``regions``: code → ``{"name", "level"}`` for every region on the case's path (grid,
    village, township, county, city, province) and every region a timeline entry names.
    """

    case: Mapping[str, Any]
    timeline: Sequence[Mapping[str, Any]]
    regions: Mapping[str, Mapping[str, str]]
    category_name: str
    identity: Identity = "masked"
    users: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- formatting


def _instant(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(CHINA_TZ)


def cn_date(value: str | datetime | date | None) -> str:
    """2026年12月4日 (an instant is read in China time; a date as it is)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and len(value) == 10:
        value = date.fromisoformat(value)
    if not isinstance(value, date) or isinstance(value, datetime):
        value = _instant(value).date()  # type: ignore[union-attr]
    return f"{value.year}年{value.month}月{value.day}日"


def cn_datetime(value: str | datetime | None) -> str:
    moment = _instant(value)
    if moment is None:
        return ""
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment.hour:02d}:{moment.minute:02d}"


def paragraphs(text: str | None) -> Markup:
    """Plain text with line breaks as HTML paragraphs (escaped)."""
    from markupsafe import escape

    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return Markup("".join(f"<p>{escape(line)}</p>" for line in lines))


# 统计用区划 names a village by its committee: 仁和社区居委会, 车家河村委会,
# 韩峪川村村民委员会. The place is the name without the committee.
_COMMITTEE_SUFFIXES = (("居民委员会", ""), ("村民委员会", ""), ("居委会", ""), ("村委会", "村"))


def place_name(region: Mapping[str, str] | None) -> str:
    """A region's name as a place: 仁和社区, 车家河村, 乾佑街道, 柞水县."""
    if region is None:
        return ""
    name = region["name"]
    if region.get("level") == "village":
        for suffix, keep in _COMMITTEE_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)] + keep
    return name


def organ_name(region: Mapping[str, str] | None, level: str) -> str:
    """The organ of a region as documents name it: 乾佑街道办事处, 营盘镇人民政府,
    柞水县人民政府, 仁和社区人民调解委员会 (a village's is its mediation committee)."""
    if region is None:
        return ""
    name = place_name({**region, "level": level})
    if level == "village":
        return f"{name}人民调解委员会"
    if name.endswith("办事处"):
        return name
    if level == "township" and name.endswith("街道"):
        return f"{name}办事处"
    return f"{name}人民政府"


# --------------------------------------------------------------------------- the case, read


class CaseView:
    """A case's data with what the templates ask of it: parties by role, entries by kind,
    the organs on its path, the level it was at when something happened."""

    def __init__(self, data: CaseData):
        self.data = data
        self.case = data.case
        self.timeline = list(data.timeline)

    # -- places and organs

    @cached_property
    def path_regions(self) -> dict[str, Mapping[str, str]]:
        """level → region, for the regions on the case's own path."""
        by_level: dict[str, Mapping[str, str]] = {}
        village = self.case["village_code"]
        grid_code = self.case.get("grid_code")
        for code, region in sorted(self.data.regions.items()):
            level = region["level"]
            if level == "grid":
                if code == grid_code:
                    by_level["grid"] = region
            elif level == "village":
                if code == village:
                    by_level["village"] = region
            elif _is_ancestor_code(code, level, village):
                by_level[level] = region
        return by_level

    def region_name(self, level: str) -> str:
        return place_name(self.path_regions.get(level))

    @cached_property
    def place(self) -> str:
        """县 + 乡镇 + 村 (+ 网格): where the case is."""
        parts = [self.region_name(level) for level in ("county", "township", "village", "grid")]
        return "".join(part for part in parts if part)

    def organ(self, level: str) -> str:
        return organ_name(self.path_regions.get(level), level)

    def petition_organ(self, level: str) -> str:
        """The administrative organ that answers for a case held at ``level``."""
        organ_level = PETITION_ORGAN_LEVEL.get(level, level)
        return self.organ(organ_level)

    def organ_above(self, level: str) -> str:
        organ_level = PETITION_ORGAN_LEVEL.get(level, level)
        above = ORGAN_ABOVE.get(organ_level)
        return self.organ(above) if above else ""

    @property
    def committee(self) -> str:
        return self.organ("village")

    def named_organ(self, code: str | None) -> str:
        region = self.data.regions.get(code or "")
        return organ_name(region, region["level"]) if region else ""

    # -- timeline

    def entries(self, *kinds: str) -> list[Mapping[str, Any]]:
        return [entry for entry in self.timeline if entry["kind"] in kinds]

    def last(self, *kinds: str) -> Mapping[str, Any] | None:
        found = self.entries(*kinds)
        return found[-1] if found else None

    def first(self, *kinds: str) -> Mapping[str, Any] | None:
        found = self.entries(*kinds)
        return found[0] if found else None

    def level_at(self, entry: Mapping[str, Any]) -> str:
        """The level that held the case when ``entry`` happened (before any level change
        the entry itself makes)."""
        level = self.case["level"]
        registered = self.first("register")
        if registered is not None:
            level = registered["data"].get("level", level)
        for item in self.timeline:
            if item["seq"] >= entry["seq"]:
                break
            if item["kind"] in LEVEL_CHANGES and item["data"].get("to_level"):
                level = item["data"]["to_level"]
        return level

    # -- parties

    @cached_property
    def parties(self) -> list[dict[str, Any]]:
        petition = self.is_petition
        roles = PETITION_ROLE_NAMES_ZH if petition else PARTY_ROLE_NAMES_ZH
        result = []
        for party in self.case["parties"]:
            result.append(
                {
                    **party,
                    "role_name": roles.get(party["role"], party["role"]),
                    "kind_name": PARTY_KIND_NAMES_ZH.get(party["kind"], party["kind"]),
                    "id_text": party.get("id_number")
                    or (f"未提供（{party['id_unknown_reason']}）" if party.get("id_unknown_reason") else "")
                    or party.get("org_code")
                    or "",
                }
            )
        return result

    @property
    def applicants(self) -> list[dict[str, Any]]:
        found = [party for party in self.parties if party["role"] == "applicant"]
        return found or self.parties[:1]

    @property
    def applicant_names(self) -> str:
        return "、".join(party["name"] for party in self.applicants)

    def party_names(self, ids: Iterable[str]) -> str:
        wanted = set(ids)
        return "、".join(party["name"] for party in self.parties if party["id"] in wanted)

    # -- what the case is

    @property
    def is_petition(self) -> bool:
        return self.case["kind"] != Kind.CIVIL_DISPUTE.value

    @property
    def number(self) -> str:
        return self.case.get("number") or "（未编号）"

    @property
    def kind_name(self) -> str:
        return KIND_NAMES_ZH[Kind(self.case["kind"])]

    @property
    def channel_name(self) -> str:
        return CHANNEL_NAMES_ZH[Channel(self.case["channel"])]

    @property
    def masked(self) -> bool:
        return self.data.identity == "masked"


def _is_ancestor_code(code: str, level: str, village: str) -> bool:
    # 统计用区划代码: 2 province, 2 city, 2 county, 3 township, 3 village digits.
    prefix = {"province": 2, "city": 4, "county": 6, "township": 9}.get(level)
    if prefix is None or len(code) != len(village):
        return False
    return code[:prefix] == village[:prefix] and set(code[prefix:]) <= {"0"}


# --------------------------------------------------------------------------- the kinds


@dataclass(frozen=True)
class DocumentKind:
    slug: str
    title: str  # the Chinese title of the document (and of the kind)
    layout: Literal["official", "form"]
    applies: Callable[[CaseView], bool]
    # The instant the document records (its date, and the PDF's creation date).
    dated: Callable[[CaseView], str]
    view: Callable[[CaseView], dict[str, Any]]

    @property
    def template(self) -> str:
        return f"documents/{self.slug}.html"


def _entry_date(*kinds: str, last: bool = True) -> Callable[[CaseView], str]:
    def dated(case: CaseView) -> str:
        entry = case.last(*kinds) if last else case.first(*kinds)
        assert entry is not None
        return entry["at"]

    return dated


def _has(*kinds: str) -> Callable[[CaseView], bool]:
    return lambda case: bool(case.entries(*kinds))


# -- views (template context per kind)


def _registration_view(case: CaseView) -> dict[str, Any]:
    registered = case.first("register")
    flags = [name for key, name in FLAG_NAMES_ZH.items() if case.case["flags"].get(key)]
    return {
        "registered": registered,
        "registrar": (registered or {}).get("actor_name") or "",
        "channel": case.channel_name,
        "risk": RISK_NAMES_ZH[Risk(case.case["risk"])],
        "flags": flags,
        "status_name": case.case["status_name"],
        "category_name": case.data.category_name,
    }


def _notice_view(case: CaseView, entry: Mapping[str, Any], level: str) -> dict[str, Any]:
    # A mediation case at the village is answered by its committee, anything else by an organ.
    mediation = not case.is_petition
    return {
        "entry": entry,
        "issuer": case.committee if mediation and level == "village" else case.petition_organ(level),
        "mediation": mediation,
    }


def _acceptance_view(case: CaseView) -> dict[str, Any]:
    accepted = case.first("accept")
    assert accepted is not None
    return _notice_view(case, accepted, accepted["data"].get("level") or case.level_at(accepted))


def _rejection_view(case: CaseView) -> dict[str, Any]:
    declined = case.last("decline")
    assert declined is not None
    return _notice_view(case, declined, case.level_at(declined))


def _referral_view(case: CaseView) -> dict[str, Any]:
    slips = []
    for entry in case.entries("route", "refer_down"):
        level = case.level_at(entry)
        data = entry["data"]
        if entry["kind"] == "route":
            route = ROUTE_NAMES_ZH.get(Route(data["route"])) if data.get("route") else ""
            slips.append(
                {
                    "entry": entry,
                    "title": "信访事项转送单",
                    "verb": "转送",
                    "from_organ": case.petition_organ(level),
                    "to_organ": data.get("organ", ""),
                    "route": route,
                    "objection_last_day": data.get("objection_last_day"),
                }
            )
        else:
            to_level = data.get("to_level", "")
            to_organ = data.get("organ") or (case.committee if to_level == "village" else case.petition_organ(to_level))
            slips.append(
                {
                    "entry": entry,
                    "title": "信访事项交办单",
                    "verb": "交办",
                    "from_organ": case.petition_organ(level),
                    "to_organ": to_organ,
                    "route": f"交由{HANDLING_LEVEL_NAMES_ZH.get(to_level, to_level)}办理",  # type: ignore[call-overload]
                    "objection_last_day": None,
                }
            )
    return {"slips": slips}


def _mediation_record_view(case: CaseView) -> dict[str, Any]:
    started = case.first("start_mediation")
    oral = [entry for entry in case.entries("reach_agreement") if entry["data"].get("form") == "oral"]
    return {
        "sessions": case.entries("record_session"),
        "started": started,
        "oral_agreements": oral,
        "failed": case.last("fail_mediation"),
        "routes_told": ROUTES_TOLD_NAMES_ZH,
        "committee": case.committee,
    }


def _written_agreement(case: CaseView) -> Mapping[str, Any] | None:
    found = [entry for entry in case.entries("reach_agreement") if entry["data"].get("form") == "written"]
    return found[-1] if found else None


def _agreement_view(case: CaseView) -> dict[str, Any]:
    agreement = _written_agreement(case)
    assert agreement is not None
    signatures = [entry for entry in case.entries("sign_agreement") if entry["seq"] > agreement["seq"]]
    signed_at: dict[str, str] = {}
    mediator_signed_at = sealed_at = effective_at = None
    for entry in signatures:
        for party_id in entry["data"].get("party_ids", []):
            signed_at.setdefault(party_id, entry["at"])
        if entry["data"].get("mediator_signed") and mediator_signed_at is None:
            mediator_signed_at = entry["at"]
        if entry["data"].get("committee_sealed") and sealed_at is None:
            sealed_at = entry["at"]
        if entry["data"].get("effective"):
            effective_at = entry["at"]
    mediator = case.last("record_session", "start_mediation")
    return {
        "agreement": agreement,
        "data": agreement["data"],
        "copies": len(case.parties) + 1,
        "signed_at": signed_at,
        "mediator_signed_at": mediator_signed_at,
        "sealed_at": sealed_at,
        "effective_at": effective_at,
        "mediator": (mediator or agreement).get("actor_name") or "",
        "committee": case.committee,
    }


def _received_on(request: Mapping[str, Any] | None) -> str:
    if request is None:
        return ""
    return request["data"].get("received_at") or request["at"]


def _opinion(case: CaseView, entry: Mapping[str, Any], issuer: str) -> dict[str, Any]:
    data = entry["data"]
    return {
        "entry": entry,
        "data": data,
        "outcome": OUTCOME_NAMES_ZH[Outcome(data["outcome"])],
        "issuer": issuer,
    }


def _handling_opinion_view(case: CaseView) -> dict[str, Any]:
    replied = case.last("reply")
    assert replied is not None
    level = case.level_at(replied)
    view = _opinion(case, replied, case.petition_organ(level))
    view["review_organ"] = case.organ_above(level)
    view["window_last_day"] = replied["data"].get("review_window_last_day")
    return view


def _holder_organ(case: CaseView, request: Mapping[str, Any] | None, decision: Mapping[str, Any]) -> str:
    if request is not None and request["data"].get("organ"):
        return request["data"]["organ"]
    return case.petition_organ(case.level_at(decision) if request is None else request["data"].get("to_level", ""))


def _review_view(case: CaseView) -> dict[str, Any]:
    decided = case.last("decide_review")
    assert decided is not None
    requested = case.last("request_review")
    issuer = _holder_organ(case, requested, decided)
    view = _opinion(case, decided, issuer)
    view["requested_on"] = _received_on(requested)
    contested = case.last("reply")
    view["contested_on"] = contested["at"] if contested else ""
    level = (requested or {}).get("data", {}).get("to_level") or case.level_at(decided)
    view["rereview_organ"] = case.organ_above(level)
    view["window_last_day"] = decided["data"].get("rereview_window_last_day")
    return view


def _rereview_view(case: CaseView) -> dict[str, Any]:
    decided = case.last("decide_rereview")
    assert decided is not None
    requested = case.last("request_rereview")
    view = _opinion(case, decided, _holder_organ(case, requested, decided))
    view["requested_on"] = _received_on(requested)
    contested = case.last("decide_review")
    view["contested_on"] = contested["at"] if contested else ""
    view["hearings"] = case.entries("record_hearing")
    return view


def _extension_view(case: CaseView) -> dict[str, Any]:
    extension = case.case.get("extension") or {}
    approved = case.last("extend")
    level = case.level_at(approved) if approved else case.case["level"]
    accepted = case.first("accept")
    return {
        "extension": extension,
        "issuer": case.petition_organ(level),
        "accepted": accepted,
    }


def _supervision_view(case: CaseView) -> dict[str, Any]:
    replies: dict[str, Mapping[str, Any]] = {}
    for entry in case.entries(SUPERVISION_REPLIED):
        replies.setdefault(str(entry["data"].get("supervision")), entry)
    slips = []
    for entry in case.entries(SUPERVISION_OPENED):
        data = entry["data"]
        supervising = data.get("supervising_level") or ""
        supervised = case.named_organ(data.get("supervised_node")) or case.petition_organ(case.level_at(entry))
        if data.get("reply_last_day"):
            due = f"{cn_date(data['reply_last_day'])}前"
        elif data.get("reply_days"):
            due = f"{data['reply_days']}{REPLY_UNIT_NAMES_ZH.get(data.get('reply_unit', ''), '日')}内"
        else:
            due = ""
        slips.append(
            {
                "entry": entry,
                "supervising": case.petition_organ(supervising) if supervising else "",
                "supervised": supervised,
                "due": due,
                "source": "规则自动督办" if data.get("source") == "rule" or data.get("rule") else "人工督办",
                "reply": replies.get(str(data.get("supervision"))),
            }
        )
    return {"slips": slips}


def _follow_up_view(case: CaseView) -> dict[str, Any]:
    visits = [
        {**entry, "name": FOLLOW_UP_NAMES_ZH[entry["kind"]]}
        for entry in case.entries(*FOLLOW_UP_KINDS, "evaluate")
        if entry["kind"] != "evaluate"
    ]
    evaluations = [
        {**entry, "name": EVALUATION_NAMES_ZH[Evaluation(entry["data"]["evaluation"])]}
        for entry in case.entries("evaluate")
    ]
    return {"visits": visits, "evaluations": evaluations, "committee": case.committee}


KINDS: tuple[DocumentKind, ...] = (
    DocumentKind(
        "registration_form",
        "登记表",
        "form",
        applies=lambda case: True,
        dated=lambda case: case.case["registered_at"],
        view=_registration_view,
    ),
    DocumentKind(
        "acceptance_notice",
        "受理告知书",
        "official",
        applies=_has("accept"),
        dated=_entry_date("accept", last=False),
        view=_acceptance_view,
    ),
    DocumentKind(
        "rejection_notice",
        "不予受理告知书",
        "official",
        applies=_has("decline"),
        dated=_entry_date("decline"),
        view=_rejection_view,
    ),
    DocumentKind(
        "referral_slip",
        "转送/交办单",
        "form",
        applies=_has("route", "refer_down"),
        dated=_entry_date("route", "refer_down"),
        view=_referral_view,
    ),
    DocumentKind(
        "mediation_record",
        "调解笔录",
        "form",
        applies=_has("record_session"),
        dated=_entry_date("record_session"),
        view=_mediation_record_view,
    ),
    DocumentKind(
        "mediation_agreement",
        "调解协议书",
        "form",
        applies=lambda case: _written_agreement(case) is not None,
        dated=lambda case: _written_agreement(case)["at"],  # type: ignore[index]
        view=_agreement_view,
    ),
    DocumentKind(
        "extension_notice",
        "延期告知书",
        "official",
        applies=lambda case: bool(case.case.get("extension")),
        dated=lambda case: (case.case.get("extension") or {}).get("approved_at") or case.case["updated_at"],
        view=_extension_view,
    ),
    DocumentKind(
        "handling_opinion",
        "信访处理意见书",
        "official",
        applies=_has("reply"),
        dated=_entry_date("reply"),
        view=_handling_opinion_view,
    ),
    DocumentKind(
        "supervision_slip",
        "督办单",
        "form",
        applies=_has(SUPERVISION_OPENED),
        dated=_entry_date(SUPERVISION_OPENED),
        view=_supervision_view,
    ),
    DocumentKind(
        "review_opinion",
        "复查意见书",
        "official",
        applies=_has("decide_review"),
        dated=_entry_date("decide_review"),
        view=_review_view,
    ),
    DocumentKind(
        "rereview_opinion",
        "复核意见书",
        "official",
        applies=_has("decide_rereview"),
        dated=_entry_date("decide_rereview"),
        view=_rereview_view,
    ),
    DocumentKind(
        "follow_up_record",
        "回访记录",
        "form",
        applies=_has(*FOLLOW_UP_KINDS),
        dated=_entry_date(*FOLLOW_UP_KINDS),
        view=_follow_up_view,
    ),
)
KINDS_BY_SLUG: dict[str, DocumentKind] = {kind.slug: kind for kind in KINDS}


class UnknownKind(KeyError):
    """No document kind has this slug."""


def kind_of(slug: str) -> DocumentKind:
    try:
        return KINDS_BY_SLUG[slug]
    except KeyError:
        raise UnknownKind(slug) from None


def applicable_kinds(data: CaseData) -> list[DocumentKind]:
    """The kinds the case has the facts for, in the order of their dates (卷内文件 are
    filed in the order they were made), the registry's order breaking ties."""
    case = CaseView(data)
    found = [kind for kind in KINDS if kind.applies(case)]
    order = {kind.slug: index for index, kind in enumerate(KINDS)}
    return sorted(found, key=lambda kind: (_instant(kind.dated(case)), order[kind.slug]))


def document_date(slug: str, data: CaseData) -> datetime:
    moment = _instant(kind_of(slug).dated(CaseView(data)))
    assert moment is not None
    return moment


# --------------------------------------------------------------------------- HTML


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cn_date"] = cn_date
    env.filters["cn_datetime"] = cn_datetime
    env.filters["paragraphs"] = paragraphs
    env.globals["status_name"] = lambda value: STATUS_NAMES_ZH.get(Status(value), value) if value else ""
    return env


def stylesheet_path() -> str:
    return str(TEMPLATES / STYLESHEET)


def document_fragment(slug: str, data: CaseData, *, section_id: str | None = None) -> str:
    """One document as a ``<section>`` (the standalone PDF and the case file share it)."""
    kind = kind_of(slug)
    case = CaseView(data)
    if not kind.applies(case):
        raise ValueError(f"document {slug} does not apply to this case")
    return (
        environment()
        .get_template(kind.template)
        .render(
            kind=kind,
            case=case,
            c=case.case,
            doc_date=kind.dated(case),
            section_id=section_id or f"doc-{slug}",
            **kind.view(case),
        )
    )


def document_html(slug: str, data: CaseData) -> str:
    """The whole HTML of one document of a case."""
    kind = kind_of(slug)
    body = document_fragment(slug, data)
    return (
        environment()
        .get_template("documents/standalone.html")
        .render(title=title_of(slug, data), body=Markup(body), masked=data.identity == "masked", layout=kind.layout)
    )


def title_of(slug: str, data: CaseData) -> str:
    kind = kind_of(slug)
    number = data.case.get("number") or ""
    return f"{kind.title}（{number}）" if number else kind.title


def identifier_of(slug: str, data: CaseData) -> str:
    # Masked and full-identity versions are different documents: different identifiers.
    return f"fengqiao:case:{data.case['id']}:{slug}:{data.identity}"


def render_document(slug: str, data: CaseData) -> bytes:
    """One document as PDF/A-3b; module-level with picklable arguments, so it runs in the
    render pool. Its date is the date of the event it records, so the same case gives the
    same bytes whenever it is rendered."""
    return render_pdf(
        document_html(slug, data),
        identifier=identifier_of(slug, data),
        title=title_of(slug, data),
        created=document_date(slug, data),
        stylesheets=[stylesheet_path()],
    )
