"""Archive packages and the four checks of DA/T 70 on real WeasyPrint PDF/A output."""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from functools import cache

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from reports.archive import (
    CASE_JSON,
    CASEFILE,
    MANIFEST,
    MEMBERS,
    METADATA,
    TIMELINE_JSON,
    assemble_package,
    describe,
    render_package,
    zip_members,
)
from reports.casefile import case_json_bytes, render_casefile
from reports.render import PdfAttachment, render_pdf
from reports.verify import verify_bytes, verify_package
from tests.reports.pdfcheck import text_of
from tests.reports.samples import declined_case, mediated_case

DATA = mediated_case()
CASE = DATA.case
NUMBER = CASE["number"]
CLOSED_AT = describe(DATA).closed_at


@cache
def good_pdf() -> bytes:
    return render_casefile(DATA)


@cache
def good_package() -> bytes:
    return render_package(DATA)


def package_with(pdf: bytes) -> bytes:
    """A package around another PDF, hashed and described as a builder would."""
    return assemble_package(pdf, CASE, DATA.timeline, describe(DATA))


def other_pdf(body: str, *extra: PdfAttachment) -> bytes:
    """A PDF/A like the case file's (carrying the same case.json), with other content."""
    return render_pdf(
        '<html lang="zh-CN"><head><style>@page { size: A4 } body { font-family: "Noto Serif CJK SC" }'
        f"</style></head><body>{body}</body></html>",
        identifier=f"test:{CASE['id']}",
        title="案卷",
        created=CLOSED_AT,
        attachments=[PdfAttachment(CASE_JSON, case_json_bytes(CASE), "application/json", "案件数据"), *extra],
    )


def members_of(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def repack(package: bytes, *, replace: dict[str, bytes] | None = None, drop=(), add=()) -> bytes:
    """The package's members again (as someone with a zip tool would), changed."""
    members = [(name, data) for name, data in members_of(package).items() if name not in drop]
    members = [(name, (replace or {}).get(name, data)) for name, data in members]
    return zip_members([*members, *add], CLOSED_AT)


def flip_byte(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def assert_first_failure(report, code: str, member: str) -> None:
    failure = report.first_failure
    assert not report.ok
    assert failure is not None, report.lines_zh()
    assert (failure.code, failure.member) == (code, member), report.lines_zh()
    assert member in failure.message


# ---------------------------------------------------------------- digests


def test_should_compute_sm3_as_the_standard_test_vector_says():
    # GB/T 32905-2016, Appendix A.1: SM3("abc").
    assert hashlib.new("sm3", b"abc").hexdigest() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


# ---------------------------------------------------------------- the package


def test_should_pass_all_four_checks_for_a_package_as_built(tmp_path):
    path = tmp_path / "package.zip"
    path.write_bytes(good_package())
    report = verify_package(path)
    assert report.ok, report.lines_zh()
    assert report.first_failure is None
    assert [result.check for result in report.results] == ["authenticity", "integrity", "usability", "safety"]
    assert all(result.passed for result in report.results)


def test_should_build_the_same_bytes_from_the_same_case():
    assert render_package(mediated_case()) == good_package()


def test_should_store_the_members_in_a_fixed_order_dated_with_the_close_time_and_read_only():
    with zipfile.ZipFile(io.BytesIO(good_package())) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == list(MEMBERS)
    for info in infos:
        # The close time in China (2026-03-24 09:00), to ZIP's two seconds.
        assert info.date_time == (2026, 3, 24, 9, 0, 0)
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.extra == b""
        assert info.external_attr >> 16 == 0o100444


def test_should_list_every_other_member_with_its_size_and_both_digests_in_the_manifest():
    members = members_of(good_package())
    manifest = json.loads(members[MANIFEST])
    assert [entry["name"] for entry in manifest["members"]] == [METADATA, CASEFILE, CASE_JSON, TIMELINE_JSON]
    for entry in manifest["members"]:
        data = members[entry["name"]]
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["sm3"] == hashlib.new("sm3", data).hexdigest()
    casefile = next(entry for entry in manifest["members"] if entry["name"] == CASEFILE)
    [embedded] = casefile["embedded"]
    assert (embedded["name"], embedded["relationship"]) == (CASE_JSON, "Data")
    # The PDF carries the very case the package holds, and the API's shape of both.
    assert embedded["sha256"] == hashlib.sha256(members[CASE_JSON]).hexdigest()
    assert json.loads(members[CASE_JSON]) == CASE
    assert json.loads(members[TIMELINE_JSON]) == DATA.timeline


def test_should_describe_the_case_file_with_the_element_names_of_da_t_46():
    members = members_of(good_package())
    root = ET.fromstring(members[METADATA])
    assert (root.tag, root.get("标准")) == ("电子文件元数据", "DA/T 46-2009")
    record = root.find("文件实体")
    assert record.findtext("聚合层次") == "案卷"
    # The unit the case file's cover names as 立卷单位: the village's mediation committee.
    unit = describe(DATA).unit_name
    assert "仁和社区" in unit and unit in text_of(good_pdf())
    assert record.findtext("来源/立档单位名称") == unit
    assert record.findtext("内容描述/责任者") == unit
    assert record.findtext("电子文件号") == CASE["id"]
    assert record.find("档号").get("档号") == f"611026-2026-D30-{NUMBER}"
    assert record.findtext("档号/全宗号") == "611026"
    assert record.findtext("档号/保管期限") == "30年"
    assert record.findtext("内容描述/题名") == CASE["title"]
    assert record.findtext("内容描述/文件编号") == NUMBER
    assert record.findtext("内容描述/日期") == "20260324"
    assert record.findtext("内容描述/密级") == "内部"
    assert [item.text for item in record.findall("内容描述/主题词/人名")] == ["王堃", "李喆"]
    assert record.findtext("形式特征/页数") == str(len(PdfReader(io.BytesIO(members[CASEFILE])).pages))
    files = {block.findtext("计算机文件名"): block for block in record.findall("电子属性")}
    assert set(files) == {CASEFILE, CASE_JSON, TIMELINE_JSON}
    assert files[CASEFILE].findtext("计算机文件大小") == str(len(members[CASEFILE]))
    assert files[CASEFILE].findtext("格式信息").startswith("PDF/A-3b")
    assert files[CASEFILE].findtext("文档创建程序").startswith("WeasyPrint")
    sm3 = [item for item in files[CASE_JSON].findall("数字摘要") if item.get("摘要算法") == "SM3"]
    assert [item.text for item in sm3] == [hashlib.new("sm3", members[CASE_JSON]).hexdigest()]
    activities = root.findall("业务实体")
    assert [item.findtext("业务行为") for item in activities] == [entry["kind_name"] for entry in DATA.timeline]
    assert activities[-1].findtext("行为时间") == "2026-03-24T09:00:00+08:00"


def test_should_name_a_case_file_without_a_number_by_its_id_and_find_its_title_in_the_text():
    data = declined_case()
    closed = {**data.timeline[-1], "seq": 4, "kind": "close", "kind_name": "办结", "at": data.timeline[-1]["at"]}
    data = type(data)(**{**data.__dict__, "timeline": [*data.timeline, closed]})
    package = render_package(data)
    report = verify_bytes(package)
    assert report.ok, report.lines_zh()
    description = describe(data)
    assert description.location == f"611026/2026/{data.case['id']}.zip"
    assert json.loads(members_of(package)[MANIFEST])["number"] is None


# ---------------------------------------------------------------- 真实性


@pytest.mark.parametrize("member", [CASEFILE, CASE_JSON])
def test_should_fail_authenticity_when_one_byte_of_a_record_changes(member):
    members = members_of(good_package())
    changed = repack(good_package(), replace={member: flip_byte(members[member], len(members[member]) // 2)})
    report = verify_bytes(changed)
    assert_first_failure(report, "archive.authenticity", member)
    assert "SHA-256" in report.first_failure.message


def test_should_fail_authenticity_when_one_byte_of_the_stored_package_changes():
    package = good_package()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        info = archive.getinfo(CASEFILE)
    # The member's data starts after its local header (30 bytes, name, no extra field).
    start = info.header_offset + 30 + len(CASEFILE)
    report = verify_bytes(flip_byte(package, start + info.file_size // 2))
    assert_first_failure(report, "archive.authenticity", CASEFILE)


# ---------------------------------------------------------------- 完整性


def test_should_fail_integrity_when_a_member_is_removed():
    report = verify_bytes(repack(good_package(), drop=[CASE_JSON]))
    assert report.result("authenticity").passed
    assert_first_failure(report, "archive.integrity", CASE_JSON)
    assert "缺少" in report.first_failure.message


def test_should_fail_integrity_when_a_member_is_added():
    report = verify_bytes(repack(good_package(), add=[("note.txt", "补充说明".encode())]))
    assert report.result("authenticity").passed
    assert_first_failure(report, "archive.integrity", "note.txt")
    assert "多余" in report.first_failure.message


def test_should_fail_integrity_when_the_metadata_disagrees_with_the_manifest():
    members = members_of(good_package())
    size = str(len(members[CASE_JSON]))
    metadata = members[METADATA].replace(
        f'<计算机文件大小 单位="字节">{size}<'.encode(), f'<计算机文件大小 单位="字节">{int(size) + 1}<'.encode()
    )
    assert metadata != members[METADATA]
    manifest = json.loads(members[MANIFEST])
    entry = next(item for item in manifest["members"] if item["name"] == METADATA)
    entry.update(
        size=len(metadata), sha256=hashlib.sha256(metadata).hexdigest(), sm3=hashlib.new("sm3", metadata).hexdigest()
    )
    rehashed = json.dumps(manifest, ensure_ascii=False).encode()
    report = verify_bytes(repack(good_package(), replace={METADATA: metadata, MANIFEST: rehashed}))
    assert report.result("authenticity").passed
    assert_first_failure(report, "archive.integrity", METADATA)
    assert CASE_JSON in report.first_failure.message


# ---------------------------------------------------------------- 可用性


def without_font_programs(pdf: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for page in writer.pages:
        for font in page["/Resources"]["/Font"].get_object().values():
            font = font.get_object()
            for part in [font, *(d.get_object() for d in font.get("/DescendantFonts", []))]:
                descriptor = part.get("/FontDescriptor")
                if descriptor is None:
                    continue
                descriptor = descriptor.get_object()
                for key in ("/FontFile", "/FontFile2", "/FontFile3"):
                    if key in descriptor:
                        del descriptor[NameObject(key)]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_should_fail_usability_when_a_font_is_not_embedded():
    pdf = without_font_programs(good_pdf())
    report = verify_bytes(package_with(pdf))
    assert report.result("authenticity").passed and report.result("integrity").passed
    assert_first_failure(report, "archive.usability", CASEFILE)
    assert "未嵌入" in report.first_failure.message


def test_should_fail_usability_when_the_case_file_has_no_text():
    blank = other_pdf('<div style="width: 5cm; height: 3cm; background: #333"></div>')
    report = verify_bytes(package_with(blank))
    assert report.result("authenticity").passed and report.result("integrity").passed
    assert_first_failure(report, "archive.usability", CASEFILE)
    assert "提取不到文字" in report.first_failure.message


def test_should_fail_usability_when_the_case_file_does_not_show_the_case_number():
    report = verify_bytes(package_with(other_pdf("<h1>案卷</h1><p>另一件案件</p>")))
    assert_first_failure(report, "archive.usability", CASEFILE)
    assert NUMBER in report.first_failure.message


# ---------------------------------------------------------------- 安全性


def with_javascript(pdf: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    # What a JavaScript open action looks like (pypdf 7 dropped its add_js helper).
    action = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Action"),
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('fengqiao');"),
        }
    )
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_should_fail_safety_when_the_pdf_carries_javascript_even_with_matching_digests():
    # Built (and so hashed) with the script inside: only the safety check can catch it.
    report = verify_bytes(package_with(with_javascript(good_pdf())))
    assert [result.passed for result in report.results] == [True, True, True, False], report.lines_zh()
    assert_first_failure(report, "archive.safety", CASEFILE)
    assert "JavaScript" in report.first_failure.message


def test_should_fail_safety_when_the_pdf_embeds_a_file_the_manifest_does_not_declare():
    script = PdfAttachment("run.sh", b"echo hi\n", "text/plain", "脚本")
    package = package_with(other_pdf(f"<p>案号：{NUMBER}</p>", script))
    # Declare only case.json, as someone rewriting the manifest by hand would.
    members = members_of(package)
    manifest = json.loads(members[MANIFEST])
    casefile = next(item for item in manifest["members"] if item["name"] == CASEFILE)
    casefile["embedded"] = [item for item in casefile["embedded"] if item["name"] == CASE_JSON]
    report = verify_bytes(repack(package, replace={MANIFEST: json.dumps(manifest).encode()}))
    assert not report.result("safety").passed
    assert any("run.sh" in finding.message for finding in report.result("safety").findings)


def test_should_fail_integrity_when_the_pdf_carries_another_case_than_the_package():
    other = render_pdf(
        f"<html><body><p>{NUMBER}</p></body></html>",
        identifier="x",
        title="x",
        created=CLOSED_AT,
        attachments=[PdfAttachment(CASE_JSON, case_json_bytes({**CASE, "title": "另一件"}), "application/json", "x")],
    )
    report = verify_bytes(package_with(other))
    assert report.result("authenticity").passed
    assert_first_failure(report, "archive.integrity", CASEFILE)
    assert "不是同一份内容" in report.first_failure.message


def test_should_name_unsafe_member_paths_and_executables_in_the_safety_check():
    evil = repack(good_package(), add=[("../escape.txt", b"x"), ("/etc/cron.d/job", b"x"), ("tool.exe", b"MZ\x90\x00")])
    report = verify_bytes(evil)
    safety = " ".join(finding.message for finding in report.result("safety").findings)
    assert "上级目录" in safety and "绝对路径" in safety and "可执行" in safety
    # Integrity sees the extra files first.
    assert report.first_failure.code == "archive.integrity"


def test_should_report_a_file_that_is_not_a_zip_as_an_integrity_failure():
    report = verify_bytes(b"%PDF-1.7 not a package")
    assert report.first_failure.code == "archive.integrity"
    assert "ZIP" in report.first_failure.message


def test_should_encode_the_case_as_the_case_file_encodes_the_copy_it_carries():
    from reports import casefile
    from reports.archive import canonical_json

    assert CASE_JSON == casefile.CASE_JSON
    assert canonical_json(CASE) == casefile.case_json_bytes(CASE)
