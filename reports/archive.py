"""The archive package of a closed case (一案一卷, 人民调解法 Art. 27; docs/archive.md).

A package is a ZIP file with five members, always in this order:

- ``manifest.json``: every other member with its size, SHA-256 and SM3 digests, and the
  files the case file PDF carries inside it (its PDF/A-3 associated files);
- ``metadata.xml``: the descriptive metadata, with the element names of DA/T 46-2009
  《文书类电子文件元数据方案》 as XML element names;
- ``casefile.pdf``: the case file (案卷, reports/casefile.py) as PDF/A-3b, carrying
  ``case.json`` inside;
- ``case.json``: the case as ``GET /api/v1/cases/{id}`` returns it, the very bytes the PDF
  carries;
- ``timeline.json``: its timeline as ``GET /api/v1/cases/{id}/timeline`` returns it.

The same input gives the same bytes: members are stored (not deflated, so no zlib build can
change them), in a fixed order, dated with the case's close time, with fixed attributes and
no extra fields. Everything here is a pure function of its arguments; the service
(server/services/archives.py) gathers the data and stores the bytes write-once.
"""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pypdf import PdfReader

from grid.calendar import CHINA_TZ
from grid.lifecycle import STATUS_NAMES_ZH, Status

if TYPE_CHECKING:
    from reports.documents import CaseData

FORMAT = "fengqiao-archive-package"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
METADATA = "metadata.xml"
CASEFILE = "casefile.pdf"
# The name the case file gives the case it carries (reports/casefile.py CASE_JSON). The
# case file's modules (WeasyPrint, Jinja) load only to build: verifying needs none of them.
CASE_JSON = "case.json"
TIMELINE_JSON = "timeline.json"
# The members in the order they are written; nothing else belongs in a package.
MEMBERS = (MANIFEST, METADATA, CASEFILE, CASE_JSON, TIMELINE_JSON)
# The records proper (DA/T 46 describes these; the manifest and the metadata describe them).
RECORDS = (CASEFILE, CASE_JSON, TIMELINE_JSON)

MEDIA_TYPES = {
    MANIFEST: "application/json",
    METADATA: "application/xml",
    CASEFILE: "application/pdf",
    CASE_JSON: "application/json",
    TIMELINE_JSON: "application/json",
}
ROLES = {MANIFEST: "manifest", METADATA: "metadata", CASEFILE: "casefile", CASE_JSON: "case", TIMELINE_JSON: "timeline"}
FORMAT_NAMES = {
    CASEFILE: "PDF/A-3b（GB/T 23286.3 / ISO 19005-3）",
    CASE_JSON: "JSON（RFC 8259，UTF-8）",
    TIMELINE_JSON: "JSON（RFC 8259，UTF-8）",
}
DIGEST_ALGORITHMS = (("sha256", "SHA-256"), ("sm3", "SM3"))
METADATA_STANDARD = "DA/T 46-2009"
# A regular file, read-only for everyone: nothing in a package is meant to be changed or run.
MEMBER_MODE = 0o100444
UNIX = 3


class Sm3Unavailable(RuntimeError):
    pass


def require_sm3() -> None:
    """SM3 (GB/T 32905) comes from OpenSSL ≥ 1.1.1 through hashlib; without it no package
    can be built or verified, so callers check once when they start."""
    try:
        hashlib.new("sm3", b"abc")
    except ValueError:
        raise Sm3Unavailable(
            "当前 Python 所用的 OpenSSL 不提供 SM3 摘要算法，无法生成或检测归档信息包"
            "（需要 OpenSSL 1.1.1 及以上版本并启用 SM3）"
        ) from None


def digests(data: bytes) -> dict[str, str]:
    """SHA-256 and SM3 of ``data`` in lowercase hex, by manifest key."""
    return {key: hashlib.new(key, data).hexdigest() for key, _ in DIGEST_ALGORITHMS}


@dataclass(frozen=True)
class ArchiveDescription:
    """What the metadata says about the case file (plain data; :func:`describe` derives it
    from the case)."""

    case_id: str
    number: str | None
    title: str
    closed_at: datetime
    # 立档单位名称 and 责任者: the 立卷单位 the case file's cover names.
    unit_name: str
    # 全宗号: the county's division code (one county, one fonds).
    fonds_code: str
    category_name: str
    kind_name: str
    # 存储位置/当前位置: the package's path under the archive directory.
    location: str
    retention: str  # 保管期限, as the cover says
    system: str = "fengqiao 网格化矛盾纠纷调解与信访办理平台"
    party_names: tuple[str, ...] = ()
    summary: str = ""


def closed_at_of(timeline: Sequence[Mapping[str, Any]]) -> datetime:
    """When the case closed: its last ``close`` entry."""
    closes = [entry["at"] for entry in timeline if entry.get("kind") == "close"]
    if not closes:
        raise ValueError("案件尚未办结：时间线中没有办结记录")
    return _parse_instant(closes[-1])


def _parse_instant(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def package_location(case: Mapping[str, Any], closed_at: datetime) -> str:
    """Where a package lives under the archive directory: county / year closed / number."""
    year = closed_at.astimezone(CHINA_TZ).year
    return f"{case['village_code'][:6]}/{year}/{case.get('number') or case['id']}.zip"


def describe(data: CaseData) -> ArchiveDescription:
    """The metadata's facts about a closed case, from the same data the case file shows."""
    from reports import casefile
    from reports.documents import CaseView

    case = data.case
    view = CaseView(data)
    closed_at = closed_at_of(data.timeline)
    return ArchiveDescription(
        case_id=str(case["id"]),
        number=case.get("number"),
        title=case["title"],
        closed_at=closed_at,
        # The cover's 立卷单位 (reports/casefile.py): the metadata must name the same unit.
        unit_name=casefile._holder(view),
        fonds_code=case["village_code"][:6],
        category_name=data.category_name,
        kind_name=view.kind_name,
        location=package_location(case, closed_at),
        retention=casefile.RETENTION,
        party_names=tuple(party["name"] for party in case.get("parties", ())),
        summary=case.get("request") or "",
    )


@dataclass(frozen=True)
class EmbeddedFile:
    name: str
    data: bytes
    mime: str
    relationship: str


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    producer: str = ""
    embedded: tuple[EmbeddedFile, ...] = field(default_factory=tuple)


RETENTION_CODES = {"永久": "Y", "30年": "D30", "10年": "D10"}  # DA/T 22-2015


def archival_code(description: ArchiveDescription) -> str:
    """档号 as one string: 全宗号-年度-保管期限代码-室编案卷号 (DA/T 22-2015 style)."""
    year = description.closed_at.astimezone(CHINA_TZ).year
    code = RETENTION_CODES.get(description.retention, description.retention)
    return f"{description.fonds_code}-{year}-{code}-{description.number or description.case_id}"


def canonical_json(value: Any) -> bytes:
    """JSON as the case file encodes the case it carries (reports/casefile.py): UTF-8,
    sorted keys, no spaces, so the same data always gives the same bytes."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def pdf_facts(pdf: bytes) -> PdfFacts:
    """The page count and the associated files a PDF carries (from its EmbeddedFiles tree)."""
    reader = PdfReader(io.BytesIO(pdf))
    embedded: list[EmbeddedFile] = []
    root = reader.trailer["/Root"]
    names = root.get("/Names")
    tree = names.get_object().get("/EmbeddedFiles") if names is not None else None
    if tree is not None:
        for name, spec in _name_tree_items(tree.get_object()):
            spec = spec.get_object()
            stream = spec["/EF"].get_object().get("/F").get_object()
            subtype = str(stream.get("/Subtype", "/application#2Foctet-stream"))[1:]
            embedded.append(
                EmbeddedFile(
                    name=str(spec.get("/UF", spec.get("/F", name))),
                    data=stream.get_data(),
                    mime=subtype.replace("#2F", "/").replace("#2f", "/"),
                    relationship=str(spec.get("/AFRelationship", "/Unspecified"))[1:],
                )
            )
    producer = str((reader.metadata or {}).get("/Producer") or "")
    return PdfFacts(pages=len(reader.pages), producer=producer, embedded=tuple(embedded))


def _name_tree_items(node: Any) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    names = node.get("/Names")
    if names is not None:
        names = names.get_object()
        items += [(str(names[i]), names[i + 1]) for i in range(0, len(names) - 1, 2)]
    for kid in node.get("/Kids", ()) or ():
        items += _name_tree_items(kid.get_object())
    return items


# ---------------------------------------------------------------- the manifest


def _entry(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "role": ROLES[name], "media_type": MEDIA_TYPES[name], "size": len(data), **digests(data)}


def manifest_bytes(description: ArchiveDescription, members: Mapping[str, bytes], facts: PdfFacts) -> bytes:
    entries = []
    for name in MEMBERS[1:]:
        entry = _entry(name, members[name])
        if name == CASEFILE:
            entry["embedded"] = [
                {
                    "name": item.name,
                    "media_type": item.mime,
                    "relationship": item.relationship,
                    "size": len(item.data),
                    **digests(item.data),
                }
                for item in facts.embedded
            ]
        entries.append(entry)
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "case_id": description.case_id,
        "number": description.number,
        "archival_code": archival_code(description),
        "closed_at": description.closed_at.isoformat(),
        "algorithms": [label for _, label in DIGEST_ALGORITHMS],
        "members": entries,
    }
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# ---------------------------------------------------------------- DA/T 46 metadata


def _date(moment: datetime) -> str:
    # DA/T 46 dates are GB/T 7408 basic format (YYYYMMDD), in China's local date.
    return moment.astimezone(CHINA_TZ).strftime("%Y%m%d")


def _instant(moment: datetime | str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(CHINA_TZ).isoformat()


def _add(parent: ET.Element, tag: str, text: str | int | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = str(text)
    return element


def _status_name(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return STATUS_NAMES_ZH[Status(code)]
    except ValueError:
        return code


def metadata_bytes(
    description: ArchiveDescription,
    case: Mapping[str, Any],
    timeline: Sequence[Mapping[str, Any]],
    members: Mapping[str, bytes],
    facts: PdfFacts,
) -> bytes:
    """The DA/T 46-2009 metadata of the case file (docs/archive.md maps every element)."""
    root = ET.Element("电子文件元数据", {"标准": METADATA_STANDARD, "版本": str(FORMAT_VERSION)})
    record = _add(root, "文件实体")
    _add(record, "聚合层次", "案卷")
    source = _add(record, "来源")
    _add(source, "全宗名称", description.unit_name)
    _add(source, "立档单位名称", description.unit_name)
    _add(record, "电子文件号", description.case_id)
    code = _add(record, "档号", 档号=archival_code(description))
    _add(code, "全宗号", description.fonds_code)
    _add(code, "年度", description.closed_at.astimezone(CHINA_TZ).year)
    _add(code, "保管期限", description.retention)
    _add(code, "室编案卷号", description.number or description.case_id)
    _add(code, "页号", f"1-{facts.pages}")
    content = _add(record, "内容描述")
    _add(content, "题名", description.title)
    keywords = _add(content, "主题词")
    _add(keywords, "关键词", f"{description.kind_name} {description.category_name}")
    for name in description.party_names:
        _add(keywords, "人名", name)
    _add(content, "摘要", description.summary)
    _add(content, "分类号", case.get("category"))
    _add(content, "文件编号", description.number or "")
    _add(content, "责任者", description.unit_name)
    _add(content, "日期", _date(description.closed_at))
    _add(content, "文种", "案卷")
    # Petitions name people and their addresses (PIPL Art. 28): not for the public.
    _add(content, "密级", "内部")
    form = _add(record, "形式特征")
    _add(form, "文件组合类型", "组合文件")
    _add(form, "件数", len(RECORDS))
    _add(form, "页数", facts.pages)
    _add(form, "语种", "汉语")
    _add(form, "稿本", "正本")
    for name in RECORDS:
        data = members[name]
        electronic = _add(record, "电子属性")
        _add(electronic, "格式信息", FORMAT_NAMES[name])
        _add(electronic, "计算机文件名", name)
        _add(electronic, "计算机文件大小", len(data), 单位="字节")
        _add(
            electronic, "文档创建程序", facts.producer or description.system if name == CASEFILE else description.system
        )
        _add(electronic, "信息系统描述", description.system)
        # Not a DA/T 46 element: the fixity values (DA/T 70 真实性) beside the file they fix.
        for key, label in DIGEST_ALGORITHMS:
            _add(electronic, "数字摘要", hashlib.new(key, data).hexdigest(), 摘要算法=label)
    place = _add(record, "存储位置")
    _add(place, "当前位置", description.location)
    rights = _add(record, "权限管理")
    _add(rights, "控制标识", "不公开")
    _add(
        record,
        "附注",
        "当事人身份证号码、联系电话、住址已脱敏；原文经申请并记录理由后方可查阅（《个人信息保护法》）。",
    )
    _agents(root, description, timeline)
    _activities(root, timeline)
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n").encode("utf-8")


def _agents(root: ET.Element, description: ArchiveDescription, timeline: Sequence[Mapping[str, Any]]) -> None:
    unit = _add(root, "机构人员实体")
    _add(unit, "机构人员类型", "机构")
    _add(unit, "机构人员名称", description.unit_name)
    seen: list[str] = []
    for entry in timeline:
        name = entry.get("actor_name")
        if name and name not in seen:
            seen.append(name)
    for name in seen:
        person = _add(root, "机构人员实体")
        _add(person, "机构人员类型", "个人")
        _add(person, "机构人员名称", name)
        _add(person, "个人职位", "经办人")


def _activities(root: ET.Element, timeline: Sequence[Mapping[str, Any]]) -> None:
    # 业务实体: one per timeline entry, so the file says who did what, when and why.
    for entry in timeline:
        business = _add(root, "业务实体", 序号=str(entry.get("seq", "")))
        _add(business, "业务状态", _status_name(entry.get("to_status") or entry.get("from_status")) or "")
        _add(business, "业务行为", entry.get("kind_name") or entry.get("kind"))
        _add(business, "行为时间", _instant(entry["at"]))
        data = entry.get("data") or {}
        basis = data.get("rule") or data.get("basis") or data.get("legal_basis")
        if basis:
            _add(business, "行为依据", basis if isinstance(basis, str) else json.dumps(basis, ensure_ascii=False))
        if entry.get("reason"):
            _add(business, "行为描述", entry["reason"])


# ---------------------------------------------------------------- the zip


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    # ZIP keeps local time to two seconds; the case's close time in China, rounded down.
    local = moment.astimezone(CHINA_TZ)
    return (local.year, local.month, local.day, local.hour, local.minute, local.second - local.second % 2)


def zip_members(members: Sequence[tuple[str, bytes]], moment: datetime) -> bytes:
    """Members stored in the order given, each with the same fixed date and attributes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_zip_time(moment))
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = UNIX
            info.external_attr = MEMBER_MODE << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def assemble_package(
    casefile_pdf: bytes,
    case: Mapping[str, Any],
    timeline: Sequence[Mapping[str, Any]],
    description: ArchiveDescription,
) -> bytes:
    """The package's bytes from the rendered case file, the case and its timeline."""
    require_sm3()
    facts = pdf_facts(casefile_pdf)
    members: dict[str, bytes] = {
        CASEFILE: casefile_pdf,
        # The same encoding as the copy inside the PDF, so the two are the same bytes.
        CASE_JSON: canonical_json(case),
        TIMELINE_JSON: canonical_json(list(timeline)),
    }
    members[METADATA] = metadata_bytes(description, case, timeline, members, facts)
    members[MANIFEST] = manifest_bytes(description, members, facts)
    return zip_members([(name, members[name]) for name in MEMBERS], description.closed_at)


def render_package(data: CaseData) -> bytes:
    """The whole package of a closed case from plain data: the case file rendered, then
    wrapped. Module-level with picklable arguments, so it runs in the render pool."""
    from reports import casefile

    return assemble_package(casefile.render_casefile(data), data.case, data.timeline, describe(data))
